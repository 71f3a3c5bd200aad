"""The end of a graceful drain, as the request path sees it.

On SIGTERM the server stops accepting connections and lets in-flight requests and streams finish for
``server.drain_timeout_s``. Past it, it cancels what is still running with ``DRAIN_EXPIRED`` as the cancellation
message (server/drain.py). The pipeline and the relay turn that cancellation into ``ShuttingDown``, an ordinary
``WardgateError``: a stream then ends with a clean error event in the client's shape, a waiting request gets a 503,
and accounting records the call, as for any other error. Nothing here runs unless a drain expires.
"""

from __future__ import annotations

import asyncio

from wardgate.core.errors import WardgateError

DRAIN_EXPIRED = "wardgate: the drain timeout passed"


class ShuttingDown(WardgateError):
    """The gateway is shutting down and the request outlived the drain timeout: safe to retry on another replica."""

    status, type, code = 503, "api_error", "server_shutting_down"

    def __init__(self) -> None:
        super().__init__(
            "The gateway is shutting down and this request outlived its drain timeout; retry it.",
            headers={"retry-after": "1"},
        )


def drain_expired(exc: BaseException) -> bool:
    """Whether ``exc`` is the server ending this request at the end of a drain (not a client leaving)."""
    return isinstance(exc, asyncio.CancelledError) and exc.args[:1] == (DRAIN_EXPIRED,)


def shutting_down() -> ShuttingDown:
    """The error that replaces the drain's cancellation; the task is un-cancelled so it can still answer."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        task.uncancel()
    return ShuttingDown()
