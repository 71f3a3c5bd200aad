"""Checks a field's own schema cannot make: quoted numbers, and names that must point at a configured model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from wardgate.config.errors import ConfigProblem, dotted

_MISSING = object()


def quoted_scalars(raw: Any, value: Any, loc: tuple[Any, ...] = ()) -> list[ConfigProblem]:
    """Where the file wrote a string (``rpm: "600"``) and the setting is a number or a boolean.

    Pydantic would coerce it; a config is stricter, since a quoted number is usually a mistake elsewhere too. A
    string that came from ``${VAR}`` is exempt: the environment only holds strings; so is a money amount (a
    ``Decimal``), which may be quoted on purpose to keep it exact.
    """
    if isinstance(raw, str):
        if "${" in raw or isinstance(value, Decimal) or not isinstance(value, bool | int | float):
            return []
        kind = "true or false" if isinstance(value, bool) else "a number"
        return [ConfigProblem(dotted(loc), f"{raw!r} is a string, but this setting is {kind}.", "remove the quotes.")]
    problems: list[ConfigProblem] = []
    if isinstance(raw, Mapping):
        for key, item in raw.items():
            child = _child(value, key)
            if child is not _MISSING:
                problems.extend(quoted_scalars(item, child, (*loc, key)))
    elif isinstance(raw, list) and isinstance(value, Sequence) and not isinstance(value, str):
        for i, item in enumerate(raw[: len(value)]):
            problems.extend(quoted_scalars(item, value[i], (*loc, i)))
    return problems


def _child(value: Any, key: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get(key, _MISSING)
    if isinstance(value, BaseModel) and isinstance(key, str) and key in type(value).model_fields:
        return getattr(value, key)
    return _MISSING


def budget_fallbacks(budgets: Any, models: Mapping[str, Any]) -> list[ConfigProblem]:
    """A budget's ``fallback:`` models must be configured: a typo would only show when the budget runs out.
    ``budgets`` is the section as written, so one budget with a schema error does not hide another's typo."""
    known = ", ".join(sorted(models)) or "(none configured)"
    problems = []
    for i, budget in enumerate(budgets if isinstance(budgets, list) else []):
        fallback = budget.get("fallback") if isinstance(budget, dict) else None
        for j, name in enumerate(fallback if isinstance(fallback, list) else []):
            if isinstance(name, str) and name not in models:
                problems.append(
                    ConfigProblem(
                        f"budgets[{i}].fallback[{j}]", f"{name!r} is not a configured model.", f"use one of: {known}."
                    )
                )
    return problems
