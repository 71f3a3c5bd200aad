"""Small shared helpers of the store modules."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


class StoreError(Exception):
    """A store operation cannot be done as asked (unknown id, duplicate name); the message says which."""


class NotFoundInStore(StoreError):
    pass


class Conflict(StoreError):
    pass
