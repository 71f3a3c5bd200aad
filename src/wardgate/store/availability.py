"""Telling "the store is down" apart from a bug, at the edges that talk to it.

A refused or dropped connection, a timeout or an exhausted pool becomes ``StoreUnavailable`` (503 + retry-after)
and one log line per outage (``core/outage.py``); anything else (a bad query, a constraint) stays an error of ours.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from wardgate.core.errors import StoreUnavailable
from wardgate.core.outage import Outage

log = logging.getLogger("wardgate.store")
RETRY_AFTER_S = 2


def store_outage() -> Outage:
    return Outage("the store (database)", log)


def is_unavailable(exc: BaseException) -> bool:
    """Connection-level failures only: the same query would succeed once the database is back."""
    if isinstance(exc, OSError | TimeoutError | PoolTimeout | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def unavailable(outage: Outage, exc: BaseException) -> StoreUnavailable:
    """Report the failure (logged once per outage) and return the error the client gets."""
    outage.failed(exc)
    return StoreUnavailable("The gateway's database is unavailable; retry shortly.", retry_after_s=RETRY_AFTER_S)


@contextmanager
def reaching_store(outage: Outage) -> Iterator[None]:
    """Around one exchange with the store: report it to ``outage`` and turn unavailability into a 503."""
    try:
        yield
    except (OSError, TimeoutError, DBAPIError, PoolTimeout) as exc:
        if not is_unavailable(exc):
            raise
        raise unavailable(outage, exc) from None
    outage.recovered()
