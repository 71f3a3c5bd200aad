"""Rate limits managed through the admin API. Every worker and replica re-reads them (limits/rate_refresh.py)."""

from __future__ import annotations

from wardgate.store.named_configs import NamedConfigStore
from wardgate.store.tables import rate_limits


class RateLimitStore(NamedConfigStore):
    table = rate_limits
    noun = "rate limit"
