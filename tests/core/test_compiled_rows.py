"""Config rows re-read every few seconds are compiled once per content: the same JSON keeps its object (and the
error it raised), a changed value (even 1 → 1.0) is compiled again, and a row no longer stored is forgotten."""

from __future__ import annotations

from typing import Any

from wardgate.core.compiled_rows import CompiledRows, same_items


class Counting:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, raw: Any) -> tuple[str, Any]:
        self.calls.append(raw)
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        return ("compiled", raw)


def test_the_same_content_is_compiled_once_and_keeps_its_object() -> None:
    compile_row = Counting()
    rows = CompiledRows(compile_row)
    first = rows.compile([("a", {"x": 1, "y": [1, 2]}), ("b", {"x": 2})])
    again = rows.compile([("a", {"y": [1, 2], "x": 1}), ("b", {"x": 2})])  # read afresh, keys in another order
    assert len(compile_row.calls) == 2
    assert [name for name, _ in again] == ["a", "b"]
    assert all(x[1] is y[1] for x, y in zip(first, again, strict=True))


def test_a_changed_row_is_compiled_again_however_small_the_change() -> None:
    compile_row = Counting()
    rows = CompiledRows(compile_row)
    rows.compile([("a", {"limit": 1})])
    for changed in ({"limit": 1.0}, {"limit": True}, {"limit": 2}):
        ((_, obj),) = rows.compile([("a", changed)])
        assert obj == ("compiled", changed)
    assert len(compile_row.calls) == 4


def test_an_invalid_row_keeps_its_error_until_it_changes() -> None:
    compile_row = Counting()
    rows = CompiledRows(compile_row)
    ((_, error),) = rows.compile([("bad", ["not", "a", "config"])])
    ((_, again),) = rows.compile([("bad", ["not", "a", "config"])])
    assert isinstance(error, ValueError) and again is error and len(compile_row.calls) == 1
    ((_, fixed),) = rows.compile([("bad", {"now": "valid"})])
    assert fixed == ("compiled", {"now": "valid"})


def test_a_removed_row_is_forgotten_and_compiled_afresh_if_it_comes_back() -> None:
    compile_row = Counting()
    rows = CompiledRows(compile_row)
    rows.compile([("a", {"x": 1}), ("b", {"x": 2})])
    rows.compile([("b", {"x": 2})])
    rows.compile([("a", {"x": 1}), ("b", {"x": 2})])
    assert [c["x"] for c in compile_row.calls] == [1, 2, 1]


def test_a_row_that_is_not_json_is_compiled_every_time() -> None:
    compile_row = Counting()
    rows = CompiledRows(compile_row)
    for _ in range(2):
        rows.compile([("big", {"x": 2**70})])
    assert len(compile_row.calls) == 2


def test_same_items_is_identity_in_order() -> None:
    a, b = object(), object()
    assert same_items((a, b), (a, b))
    assert not same_items((a, b), (b, a))
    assert not same_items((a,), (a, b))
    assert not same_items(({"x": 1},), ({"x": 1},))  # equal but not the same objects
