"""What a Redis call of the cache may raise; the cache then degrades to a plain call.

A function, not a tuple built at import: redis-py is imported only once ``redis:`` is configured
(store/redis_errors.py).
"""

from __future__ import annotations

from wardgate.store.redis_errors import redis_errors


def redis_failure() -> tuple[type[Exception], ...]:
    return redis_errors(OSError)
