"""Recall and precision of the pii guard and of Presidio's pattern recognizers on the presidio-evaluator corpus
(bench/pii/presidio_corpus.py writes it). Span level: a found span is right when it overlaps a gold span of the
same entity (Presidio's names mapped to ours); per entity the guard covers, and over all of them.

    .venv/bin/python bench/pii/compare.py /tmp/pii_corpus.jsonl [strict|balanced|permissive]

Every entity is on, ``person`` and ``address`` (opt-in in a config) included; Presidio's pattern recognizers have
no person or address recogniser, so those rows compare with nothing.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from wardgate.config.guards import PII_ENTITIES, GuardConfig
from wardgate.guards.engine import compile_guard

# presidio entity → ours; entities with no counterpart are counted as "other" (neither side is scored on them)
MAP = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip_address",
    "US_SSN": "us_ssn",
    "UK_NINO": "uk_nino",
    "ES_NIF": "es_dni",
    "IT_FISCAL_CODE": "it_fiscal_code",
    "PL_PESEL": "pl_pesel",
    "IN_AADHAAR": "in_aadhaar",
    "PERSON": "person",
    "ADDRESS": "address",
    "STREET_ADDRESS": "address",
}


def _overlaps(a: tuple[int, int], spans: list[tuple[str, int, int]], entity: str) -> bool:
    return any(e == entity and s < a[1] and a[0] < t for e, s, t in spans)


def main() -> None:
    sensitivity = sys.argv[2] if len(sys.argv) > 2 else "balanced"
    guard = compile_guard(
        GuardConfig(name="pii", type="pii", entities=list(PII_ENTITIES), sensitivity=sensitivity)  # type: ignore[arg-type]
    )
    rows = [json.loads(line) for line in Path(sys.argv[1]).read_text(encoding="utf-8").splitlines()]
    tp: dict[str, Counter[str]] = {"wardgate": Counter(), "presidio": Counter()}
    fp: dict[str, Counter[str]] = {"wardgate": Counter(), "presidio": Counter()}
    gold_n: Counter[str] = Counter()
    found_gold: dict[str, Counter[str]] = {"wardgate": Counter(), "presidio": Counter()}
    for row in rows:
        gold = [(MAP.get(e, "other:" + e), s, t) for e, s, t in row["gold"]]
        ours = [(f.entity, f.start, f.end) for f in guard.scan(row["text"])]
        theirs = [(MAP.get(e, "other:" + e), s, t) for e, s, t, _ in row["presidio"]]
        for e, s, t in gold:
            gold_n[e] += 1
            for system, spans in (("wardgate", ours), ("presidio", theirs)):
                found_gold[system][e] += _overlaps((s, t), spans, e)
        for system, spans in (("wardgate", ours), ("presidio", theirs)):
            for e, s, t in spans:
                if e.startswith("other:"):
                    continue
                if _overlaps((s, t), gold, e):
                    tp[system][e] += 1
                else:
                    fp[system][e] += 1
    entities = sorted(e for e in gold_n if not e.startswith("other:"))
    print(f"{len(rows)} sentences; gold spans per entity: {dict(gold_n.most_common())}\n")
    print("| entity | gold | wardgate recall | wardgate precision | presidio recall | presidio precision |")
    print("|---|---|---|---|---|---|")
    pattern_entities = [x for x in entities if x not in ("person", "address")]
    for e in [*entities, "(all scored)", "(all but person, address)"]:
        es = entities if e == "(all scored)" else pattern_entities if e.startswith("(all but") else [e]
        n = sum(gold_n[x] for x in es)
        cells = []
        for system in ("wardgate", "presidio"):
            r = sum(found_gold[system][x] for x in es) / n if n else 0.0
            t, f = sum(tp[system][x] for x in es), sum(fp[system][x] for x in es)
            cells += [f"{r:.3f}", f"{t / (t + f):.3f}" if t + f else "-"]
        print(f"| {e} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
