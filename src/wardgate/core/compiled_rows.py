"""Rows of a config table compiled once per content.

Every worker re-reads the admin API's budgets, rate limits, guards and tool policies every ``limits.refresh_s``.
Compiling every row again on each pass (pydantic validation; a guard's patterns and scanners) ran on the event loop
and grew with the table: ~35 ms per 1,000 budgets and ~130 ms per 100 pii guards, every 5 s in every worker, and a
guard set rebuilt this way also dropped the guards stage's memo and plans. A row whose stored JSON is the same as on
the last pass keeps the object compiled from it (or the error it raised); rows no longer stored are forgotten."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import orjson

T = TypeVar("T")


class CompiledRows(Generic[T]):
    def __init__(self, compile_row: Callable[[Any], T]) -> None:
        """``compile_row`` turns one stored config into its object, or raises ValueError (an invalid row)."""
        self._compile = compile_row
        self._rows: dict[str, tuple[bytes, T | ValueError]] = {}

    def compile(self, rows: Iterable[tuple[str, Any]]) -> list[tuple[str, T | ValueError]]:
        """(name, object or the ValueError its row raised) for each row, in order."""
        previous: dict[str, tuple[bytes, T | ValueError]] = self._rows
        current: dict[str, tuple[bytes, T | ValueError]] = {}
        out: list[tuple[str, T | ValueError]] = []
        for name, raw in rows:
            try:  # the content exactly (1, 1.0 and true differ), key order aside
                digest = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
            except orjson.JSONEncodeError:  # not JSON (an integer past 64 bits): compiled every time
                digest = b""
            kept = previous.get(name)
            if kept is None or not digest or kept[0] != digest:
                try:
                    kept = (digest, self._compile(raw))
                except ValueError as exc:
                    kept = (digest, exc)
            current[name] = kept
            out.append((name, kept[1]))
        self._rows = current
        return out


def same_items(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """The same objects in the same order: a reload that changed nothing need not be applied."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
