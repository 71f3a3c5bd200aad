"""Every config key is documented in docs/configuration.md (the schema and the reference cannot drift apart)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from wardgate.config.schema import Settings
from wardgate.providers import registry

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
_PROSE = re.sub(r"^\s*```.*$", "", DOC, flags=re.MULTILINE)  # fences would pair backticks wrongly
DOCUMENTED = {word for span in re.findall(r"`([^`]+)`", _PROSE) for word in re.findall(r"[a-z_][a-z0-9_]*", span)}


def keys(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    if model in seen:
        return set()
    seen.add(model)
    out = set()
    for name, field in model.model_fields.items():
        out.add(name)
        stack = [field.annotation]
        while stack:
            ann = stack.pop()
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                out |= keys(ann, seen)
            stack.extend(typing.get_args(ann))
    return out


def test_every_settings_key_is_in_the_reference() -> None:
    missing = sorted(keys(Settings, set()) - DOCUMENTED)
    assert not missing, f"document these keys in docs/configuration.md: {missing}"


def test_every_provider_key_is_in_the_reference() -> None:
    found: set[str] = set()
    for ptype in registry.provider_types().values():
        found |= keys(ptype.config, set())
    missing = sorted(found - DOCUMENTED)
    assert not missing, f"document these provider keys in docs/configuration.md: {missing}"
