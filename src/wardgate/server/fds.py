"""The file-descriptor budget: raise the soft RLIMIT_NOFILE to the hard limit, and keep the connection cap under it."""

from __future__ import annotations

import resource

BACKLOG = 2048  # the listen backlog (uvicorn's default): uvloop may accept this many at once before the guard runs
FD_HEADROOM = BACKLOG + 1024  # that burst, plus the store and Redis pools, files and lingering refusals


def raise_fd_limit() -> int:
    """Raise the soft limit to the hard one (inherited by the workers); return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # a container may forbid it: keep the soft limit and cap below it
            pass
    return soft


def connection_cap(configured: int, fd_limit: int) -> int:
    """The connections one worker may hold: the configured cap, lowered so that every connection can also hold one
    upstream connection (a stream does) with ``FD_HEADROOM`` to spare."""
    return max(16, min(configured, (fd_limit - FD_HEADROOM) // 2))
