"""One worker's routing state: health and breaker per deployment, canaries per model; in process, or merged
through Redis when ``redis:`` is configured. Owned by the worker (assemble.Worker), so it survives a config
reload; the admin API reads it (``routing_state``) and acts on it (``promote``, ``rollback``)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from wardgate.config.routing import BreakerConfig, CanaryRollbackConfig, RoutingConfig
from wardgate.core.outage import Outage
from wardgate.routing.breaker import CircuitBreaker
from wardgate.routing.canary import Arm, Canary, CanaryStatus
from wardgate.routing.health import Delta, Stats
from wardgate.routing.route import Route, deployment_models
from wardgate.routing.shared import SCRIPT, Merged, parse, payload
from wardgate.routing.strategies import Target
from wardgate.store.redis_errors import redis_errors

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("wardgate.routing")
Clock = Callable[[], float]


class RoutingState:
    def __init__(
        self,
        config: RoutingConfig,
        *,
        redis: aioredis.Redis | None = None,
        key_prefix: str = "wg:",
        clock: Clock = time.time,
        replica: str | None = None,
        outage: Outage | None = None,
    ) -> None:
        self.config = config
        self.outage = outage or Outage("Redis (routing health)", log, quiet_s=1.0)
        self.clock = clock
        self._redis = redis
        self._prefix = key_prefix + "rt:"
        self.replica = replica or f"{os.uname().nodename}:{os.getpid()}:{id(self):x}"
        self._subjects: dict[str, Stats] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._canaries: dict[str, Canary] = {}  # by Canary.key
        self.routes: Mapping[str, Route] = {}
        self._script: Any = redis.register_script(SCRIPT) if redis is not None else None
        self._next_sync = 0.0
        self._syncing: asyncio.Task[None] | None = None
        self.sync_failures = 0

    @property
    def shared(self) -> bool:
        return self._redis is not None

    # -- the objects routes hold ----------------------------------------------------------------------------

    def _stats(self, key: str, window_s: float) -> Stats:
        found = self._subjects.get(key)
        if found is None or found.window_s != window_s:
            health = self.config.health
            found = Stats(
                key,
                alpha=health.alpha,
                window_s=window_s,
                stale_after_s=health.stale_after_s,
                shared=self.shared,
            )
            self._subjects[key] = found
        return found

    def health(self, deployment: str) -> Stats:
        return self._stats("d:" + deployment, self.config.health.window_s)

    def breaker(self, deployment: str, config: BreakerConfig | None = None, model: str | None = None) -> CircuitBreaker:
        """The deployment's breaker under ``routing.breaker``; a model with its own ``breaker:`` (``config``) gets
        breakers of its own for its deployments (``deployment@model``), so its thresholds judge only its calls.
        The same object after a reload, with the reloaded thresholds."""
        name = deployment if config is None else f"{deployment}@{model}"
        config = config or self.config.breaker
        found = self._breakers.get(name)
        if found is None:
            found = self._breakers[name] = CircuitBreaker(name, config)
        else:
            found.reconfigure(config)
        return found

    def canary(
        self,
        model: str,
        target: Target,
        percent: float,
        sticky: Literal["user", "key"],
        rollback: CanaryRollbackConfig,
    ) -> Canary:
        """The canary of ``model`` for this candidate; the same object (status, arm health) after a reload."""
        key = f"{model}|{target.name}"
        arms: dict[Arm, Stats] = {
            arm: self._stats(f"c:{key}:{arm}", rollback.window_s) for arm in ("canary", "baseline")
        }
        canary = Canary(model, target, percent, sticky, rollback, arms)
        previous = self._canaries.get(key)
        if previous is not None:
            canary.status, canary.reason, canary.changed_at = previous.status, previous.reason, previous.changed_at
        self._canaries[key] = canary
        return canary

    def attach(self, routes: Mapping[str, Route]) -> None:
        """The routes of the config now in force (what ``snapshot`` reports and ``promote`` acts on)."""
        self.routes = routes

    # -- merging through Redis ------------------------------------------------------------------------------

    def maybe_sync(self, now: float) -> None:
        """Start a merge in the background when one is due; never waits for it."""
        if self._script is None or now < self._next_sync or self._syncing is not None:
            return
        self._next_sync = now + self.config.health.sync_interval_s
        self._syncing = asyncio.get_running_loop().create_task(self._sync_in_background(), name="routing-sync")

    async def _sync_in_background(self) -> None:
        try:
            await self.sync()
        except Exception:  # a bug in a merge must not surface as an unretrieved task error; routing goes on
            log.exception("routing health merge failed")
        finally:
            self._syncing = None

    async def sync(self) -> None:
        """Send what this worker recorded since the last merge, and take the merged state. A failure (Redis down)
        keeps the deltas for the next merge and the worker routes on its own view meanwhile."""
        if self._script is None:
            return
        now = self.clock()
        subjects = list(self._subjects.values())
        deltas: list[tuple[Stats, Delta | None]] = [(s, s.take_delta()) for s in subjects]
        breakers = []
        pauses = []
        for breaker in self._breakers.values():
            if breaker.publish is not None:
                breakers.append((breaker.name, breaker.publish, breaker.reason or ""))
                breaker.publish = None
            if breaker.publish_pause is not None:
                pauses.append((breaker.name, breaker.publish_pause, breaker.pause_reason or ""))
                breaker.publish_pause = None
        canaries = []
        for canary in self._canaries.values():
            if canary.publish:
                canaries.append((canary.key, canary.status, canary.changed_at, canary.reason))
                canary.publish = False
        health = self.config.health
        body = payload(
            now=now,
            prefix=self._prefix,
            replica=self.replica,
            alpha=health.alpha,
            stale_s=health.stale_after_s,
            fresh_s=max(3 * health.sync_interval_s, 5.0),
            subjects=deltas,
            breakers=breakers,
            pauses=pauses,
            canaries=canaries,
        )
        try:
            answer = await self._script(keys=[], args=[body])
        except redis_errors(OSError) as exc:
            self.sync_failures += 1
            self.outage.failed(exc)  # one line per outage; meanwhile each worker routes on its own view
            for stats, delta in deltas:
                if delta is not None:
                    stats.restore_delta(delta)
            for name, until, _ in breakers:
                self._breakers[name].publish = until
            for name, until, _ in pauses:
                self._breakers[name].publish_pause = until
            for key, *_ in canaries:
                self._canaries[key].publish = True
            return
        self.outage.recovered()
        self._adopt(parse(answer), now)

    def _adopt(self, merged: Merged, now: float) -> None:
        for key, (latency, ttft, buckets, elsewhere) in merged.subjects.items():
            stats = self._subjects.get(key)
            if stats is not None:
                stats.adopt(latency, ttft, buckets, elsewhere, now)
        for name, (until, reason) in merged.breakers.items():
            breaker = self._breakers.get(name)
            if breaker is not None:
                breaker.adopt(until, now, reason)
        for name, (until, reason) in merged.pauses.items():
            breaker = self._breakers.get(name)
            if breaker is not None:
                breaker.adopt_pause(until, now, reason)
        for key, (status, at, why) in merged.canaries.items():
            canary = self._canaries.get(key)
            if canary is not None:
                canary.adopt(_status(status), at, why, now)

    async def close(self) -> None:
        task = self._syncing
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    # -- what the admin API shows and does ------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """One entry per deployment of the config in force: where it is used, its breaker, its health, and the
        canary it is the candidate of."""
        now = self.clock()
        routes = list(self.routes.values())
        used_by = deployment_models(routes)
        targets: dict[str, Target] = {}
        canaries: dict[str, Canary] = {}
        for route in routes:
            for target in route.targets:
                targets.setdefault(target.name, target)
            if route.canary is not None:
                targets.setdefault(route.canary.target.name, route.canary.target)
                canaries[route.canary.target.name] = route.canary
        out = []
        for name, target in targets.items():
            deployment = target.deployment
            canary = canaries.get(name)
            out.append(
                {
                    "deployment": name,
                    "provider": deployment.provider,
                    "upstream_model": deployment.upstream_model,
                    "models": used_by.get(name, []),
                    "weight": target.weight,
                    "model_class": target.model_class,
                    "tags": list(target.tags),
                    "price_per_mtok": target.price,
                    "breaker": target.breaker.snapshot(now),
                    "health": target.health.snapshot(now),
                    "canary": canary.snapshot(now) if canary is not None else None,
                }
            )
        return out

    async def set_canary(self, model: str, status: CanaryStatus, reason: str) -> dict[str, Any]:
        route = self.routes.get(model)
        if route is None or route.canary is None:
            raise LookupError(f"the model {model!r} has no canary")
        canary = route.canary
        canary.set_status(status, self.clock(), reason)
        await self.sync()  # every worker sees it at its next merge, not only this one
        return canary.snapshot(self.clock())


def _status(value: str) -> CanaryStatus:
    if value == "promoted":
        return "promoted"
    if value == "rolled_back":
        return "rolled_back"
    return "active"


def routing_state(state: RoutingState) -> list[dict[str, Any]]:
    """For ``GET /admin/v1/deployments``: every deployment with its breaker, health and canary."""
    return state.snapshot()


async def promote(state: RoutingState, model: str) -> dict[str, Any]:
    """Send all of ``model``'s calls to its canary's candidate (the baseline deployments become its fall-backs).
    Raises LookupError when the model has no canary. Lasts until the config changes the canary."""
    return await state.set_canary(model, "promoted", "promoted by an operator")


async def rollback(state: RoutingState, model: str) -> dict[str, Any]:
    """Stop sending ``model``'s calls to its canary's candidate."""
    return await state.set_canary(model, "rolled_back", "rolled back by an operator")


async def resume(state: RoutingState, model: str) -> dict[str, Any]:
    """Give the canary its slice again (after a rollback or a promotion)."""
    return await state.set_canary(model, "active", "resumed by an operator")
