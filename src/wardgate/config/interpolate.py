"""``${VAR}`` and ``${VAR:-default}`` in string values, applied after the YAML is parsed.

Interpolating parsed values (never the text) means a secret holding ``:``, ``#`` or a newline cannot change the
config's structure. ``$${`` escapes a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wardgate.config.errors import ConfigProblem, dotted

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: Any, env: Mapping[str, str], problems: list[ConfigProblem], loc: tuple[Any, ...] = ()) -> Any:
    if isinstance(value, str):
        return _interpolate_str(value, env, problems, loc)
    if isinstance(value, dict):
        return {k: interpolate(v, env, problems, (*loc, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, problems, (*loc, i)) for i, v in enumerate(value)]
    return value


def _interpolate_str(text: str, env: Mapping[str, str], problems: list[ConfigProblem], loc: tuple[Any, ...]) -> str:
    if "$" not in text:
        return text

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is not None and (found != "" or default is None):
            return found
        if default is not None:
            return default
        problems.append(
            ConfigProblem(
                dotted(loc),
                f"environment variable {name} is not set.",
                f"export {name}=…, or give a default: ${{{name}:-value}}.",
            )
        )
        return ""

    return _VAR.sub(sub, text)
