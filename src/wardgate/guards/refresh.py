"""Guards from the admin API join the config's guards on every worker: loaded at start-up, then re-read every
``limits.refresh_s`` (as budgets are; at once on the worker that changed them).

A stored row that no longer compiles is skipped, never fatal: logged once and listed in ``GET /admin/v1/guards``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from wardgate.config.guards import GuardConfig
from wardgate.core.compiled_rows import CompiledRows, same_items
from wardgate.core.outage import Outage
from wardgate.guards.engine import Guard, compile_guard
from wardgate.guards.stage import GuardsStage
from wardgate.store.guards import GuardStore

log = logging.getLogger("wardgate.guards")
_MAX_REASON = 300


def compile_row(raw: Any) -> Guard:
    """A stored row as a guard; ValueError (with a short reason) when it is not a valid guard."""
    if not isinstance(raw, dict):
        raise ValueError("its config is not a JSON object")
    try:
        return compile_guard(GuardConfig.model_validate(raw))
    except ValidationError as exc:
        reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'guard'}: {e['msg']}" for e in exc.errors())
        raise ValueError(reason) from None


class GuardRefresher:
    def __init__(self, stage: GuardsStage, store: GuardStore, interval_s: float) -> None:
        self.stage = stage
        self.store = store
        self.interval_s = interval_s
        self.outage = Outage("the guard store (guards kept as last loaded)", log)
        self._from_config = stage.guards
        self._stored: tuple[Guard, ...] = ()  # the admin API's guards as last loaded (valid ones)
        self._reported: set[str] = set()
        self._compiled: CompiledRows[Guard] = CompiledRows(compile_row)  # rows compiled once per content
        self._task: asyncio.Task[None] | None = None

    @property
    def config_names(self) -> frozenset[str]:
        return frozenset(g.name for g in self._from_config)

    async def replace_config(self, guards: tuple[Guard, ...]) -> None:
        """A config reload changed the file's ``guards:``: served at once with the admin API's guards as last
        loaded, then with them re-read (a store outage leaves the first)."""
        self._from_config = guards
        names = self.config_names
        self.stage.guards = (*guards, *(g for g in self._stored if g.name not in names))
        await self.load()

    async def load(self) -> None:
        guards = list(self._from_config)
        names = self.config_names
        warnings: list[str] = []
        stored: list[Guard] = []
        for name, guard in self._compiled.compile(await self.store.list()):
            if isinstance(guard, ValueError):
                warnings.append(
                    f"guard {name[:100]!r} in the store is not valid and is not enforced: {guard}"[:_MAX_REASON]
                )
                continue
            stored.append(guard)
            if guard.name not in names:
                guards.append(guard)
        self._stored = tuple(stored)
        for warning in warnings:
            if warning not in self._reported:
                log.error("%s", warning)
        self._reported = set(warnings)
        self.stage.warnings = tuple(warnings)
        if not same_items(tuple(guards), self.stage.guards):  # unchanged: the stage keeps its memo and plans
            self.stage.guards = tuple(guards)  # one assignment: a call sees the old set or the new one

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="guard-refresh")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.load()
            except (SQLAlchemyError, OSError) as exc:  # the store is unreachable: keep the last known set
                self.outage.failed(exc)
            except Exception:  # a bug must not stop the refresh loop
                log.exception("guard refresh failed; keeping the current set")
            else:
                self.outage.recovered()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
