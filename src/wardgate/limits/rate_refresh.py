"""Rate limits from the admin API join the config's on every worker: loaded at start-up, then re-read every
``limits.refresh_s`` (and at once on the worker that changed them), like budgets (refresh.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pydantic import ValidationError

from wardgate.config.limits import RateLimitConfig
from wardgate.limits.rules import RateRule
from wardgate.limits.stage import LimitsStage
from wardgate.store.rate_limits import RateLimitStore

log = logging.getLogger("wardgate.limits")


class RateLimitRefresher:
    def __init__(self, stage: LimitsStage, store: RateLimitStore, interval_s: float) -> None:
        self.stage = stage
        self.store = store
        self.interval_s = interval_s
        self._from_config = stage.rates
        self._task: asyncio.Task[None] | None = None

    @property
    def config_names(self) -> frozenset[str]:
        return frozenset(rule.config.name for rule in self._from_config)

    async def load(self) -> None:
        rules = list(self._from_config)
        names = self.config_names
        for raw in await self.store.list():
            try:
                config = RateLimitConfig.model_validate(raw)
            except ValidationError:
                log.exception("rate limit %r in the store is not valid; skipped", raw.get("name"))
                continue
            if config.name not in names:
                rules.append(RateRule(config))
        self.stage.rates = tuple(rules)  # one assignment: a request sees the old set or the new one

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rate-limit-refresh")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.load()
            except Exception:  # the store is unreachable: keep the last known rate limits
                log.exception("reloading rate limits failed; keeping the current set")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
