"""Guards managed through the admin API. Every replica reloads them periodically (limits.refresh_s)."""

from __future__ import annotations

from wardgate.store.named_configs import NamedConfigStore
from wardgate.store.tables import guards


class GuardStore(NamedConfigStore):
    table = guards
    noun = "guard"
