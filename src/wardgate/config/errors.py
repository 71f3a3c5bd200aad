"""Config errors that name the file, the key and the fix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str  # dotted key, e.g. "providers.openai-main.api_key"
    message: str
    fix: str | None = None

    def render(self, source: str) -> str:
        where = f"{source}: {self.path}: " if self.path else f"{source}: "
        text = where + self.message
        if self.fix:
            text += f"\n  Fix: {self.fix}"
        return text


class ConfigError(Exception):
    """The config cannot be used; ``str()`` lists every problem found, one per paragraph."""

    def __init__(self, source: str, problems: Iterable[ConfigProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(p.render(source) for p in self.problems))


def dotted(loc: Iterable[object]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
