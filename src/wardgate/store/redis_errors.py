"""redis-py's error type without importing redis-py.

Importing ``redis`` costs a worker about 25 MB of RSS (the client, its parsers and its OpenTelemetry hooks), so modules
that run whether or not ``redis:`` is configured never import it at module level. Where they must catch its errors,
they catch ``redis_errors(...)``: the errors they name, plus redis-py's ``RedisError`` once the package is loaded.
Without a loaded redis-py there is no Redis client, so no such error can be raised.
"""

from __future__ import annotations

import sys


def redis_errors(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """``also`` and, once redis-py is loaded, its ``RedisError``: ``except redis_errors(OSError) as exc:``."""
    module = sys.modules.get("redis.exceptions")
    if module is None:
        return also
    error: type[Exception] = module.RedisError
    return (*also, error)
