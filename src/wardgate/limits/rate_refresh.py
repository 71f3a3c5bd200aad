"""Rate limits from the admin API join the config's on every worker: loaded at start-up, then re-read every
``limits.refresh_s`` (and at once on the worker that changed them), like budgets (refresh.py)."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from wardgate.config.limits import RateLimitConfig
from wardgate.core.compiled_rows import CompiledRows
from wardgate.core.outage import Outage
from wardgate.limits.refresh import PeriodicReload
from wardgate.limits.rules import RateRule
from wardgate.limits.stage import LimitsStage
from wardgate.store.rate_limits import RateLimitStore

log = logging.getLogger("wardgate.limits")


def _compile_row(raw: Any) -> RateRule:
    """A stored row as a rule; ValueError (pydantic's, which says what is wrong) when it is not a valid rate limit."""
    try:
        return RateRule(RateLimitConfig.model_validate(raw))
    except ValidationError as exc:
        raise ValueError(str(exc)) from None


class RateLimitRefresher(PeriodicReload):
    name = "rate-limit-refresh"

    def __init__(self, stage: LimitsStage, store: RateLimitStore, interval_s: float) -> None:
        super().__init__(interval_s, Outage("the rate-limit store (rate limits kept as last loaded)", log))
        self.stage = stage
        self.store = store
        self._from_config = stage.rates
        self._reported: set[str] = set()  # bad rows already logged: one bounded line per row, not one per reload
        self._stored: list[tuple[str, Any]] | None = None  # the store's rows as last read
        self._compiled: CompiledRows[RateRule] = CompiledRows(_compile_row)  # rows compiled once per content

    async def replace_config(self, rules: tuple[RateRule, ...]) -> None:
        """A hot reload changed the config's rate limits: they join the stored ones as last read, at once and
        without a round trip to the store (a change there is announced, and re-read every ``limits.refresh_s``)."""
        self._from_config = rules
        if self._stored is None:
            await self.load()
        else:
            self._compose(self._stored)

    @property
    def config_names(self) -> frozenset[str]:
        return frozenset(rule.config.name for rule in self._from_config)

    async def load(self) -> None:
        self._stored = list(await self.store.list())
        self._compose(self._stored)

    def _compose(self, stored: list[tuple[str, Any]]) -> None:
        rules = list(self._from_config)
        names = self.config_names
        bad: set[str] = set()
        for name, rule in self._compiled.compile(stored):
            if isinstance(rule, ValueError):
                reason = f"rate limit {name[:100]!r} in the store is not valid; skipped: {rule}"[:300]
                bad.add(reason)
                if reason not in self._reported:
                    log.error("%s", reason)
                continue
            if rule.config.name not in names:
                rules.append(rule)
        self._reported = bad
        self.stage.rates = tuple(rules)  # one assignment: a request sees the old set or the new one
