"""Server-side pages of the admin lists that the console shows as tables (projects, users, guards, prompts).

``?limit=N`` (1 to ``MAX_PAGE``) asks for one page; the answer's ``next_cursor`` (null on the last page) is passed
back as ``?cursor=`` for the next. A cursor is the last row's key in the list's order, and it must name a row the
caller can see: a cursor from another project, or one made up, is a 400 on ``cursor`` (never a way to probe ids).
Without ``limit`` the whole list comes back, as before paging existed.

These lists are governance objects (their number is what the operators made, not what the traffic made): the
caller's visible rows are read and the page cut from them in order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from starlette.requests import Request

from wardgate.api.admin.common import QueryParam, bad_param, query

MAX_PAGE = 1000
_LIMIT = re.compile(r"[0-9]{1,4}")  # ASCII digits only: str.isdigit() takes "²", which int() refuses
_CURSOR = re.compile(r"[^\x00-\x1f\x7f]{1,400}")  # a key of this listing (no control characters), bounded
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageAsk:
    limit: int | None
    cursor: str | None


def page_ask(request: Request) -> PageAsk:
    """The ``limit`` and ``cursor`` of the request, checked (400 on the parameter at fault)."""
    raw = query(request, "limit")
    if raw is not None and (not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE):
        raise bad_param("limit", f"must be an integer from 1 to {MAX_PAGE}")
    cursor = query(request, "cursor")
    if cursor is not None and not _CURSOR.fullmatch(cursor):
        raise bad_param("cursor", "not a next_cursor of this listing")
    if cursor is not None and raw is None:
        raise bad_param("cursor", "pages need a limit: pass limit too")
    return PageAsk(int(raw) if raw is not None else None, cursor)


def paginate(rows: Sequence[T], key: Callable[[T], str], ask: PageAsk) -> tuple[list[T], str | None]:
    """One page of ``rows`` (already in the listing's order) and the next cursor."""
    start = 0
    if ask.cursor is not None:
        found = next((i for i, row in enumerate(rows) if key(row) == ask.cursor), None)
        if found is None:
            raise bad_param("cursor", "not a next_cursor of this listing")
        start = found + 1
    if ask.limit is None:
        return list(rows[start:]), None
    page = list(rows[start : start + ask.limit])
    more = start + ask.limit < len(rows)
    return page, key(page[-1]) if more and page else None


def page_params(what: str) -> tuple[QueryParam, QueryParam]:
    """The two query parameters, for the OpenAPI document."""
    return (
        QueryParam(
            "limit",
            f"{what} per page (1 to {MAX_PAGE}); without it, all of them",
            {"type": "string", "pattern": "^([1-9][0-9]{0,2}|1000)$"},
        ),
        QueryParam(
            "cursor",
            "next_cursor of the previous page (needs limit)",
            {"type": "string", "minLength": 1, "maxLength": 400},
        ),
    )
