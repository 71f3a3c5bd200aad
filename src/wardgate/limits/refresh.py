"""Budgets from the admin API join the config's budgets on every worker: loaded at start-up, then re-read every
``limits.refresh_s`` (and at once on the worker that changed them).

A stored row that no longer compiles (written by an older version, or by hand) is skipped, never fatal: it is
logged once (bounded), counted in ``wardgate_budget_rows_skipped``, and listed in ``GET /admin/v1/budgets``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from wardgate.config.limits import BudgetConfig
from wardgate.core.compiled_rows import CompiledRows
from wardgate.core.outage import Outage
from wardgate.limits.rules import BudgetRule
from wardgate.limits.stage import LimitsStage
from wardgate.store.budgets import BudgetStore

log = logging.getLogger("wardgate.limits")
_MAX_REASON = 300


def compile_row(raw: Any) -> BudgetRule:
    """A stored row as a rule; ValueError (with a short reason) when it is not a valid budget."""
    if not isinstance(raw, dict):
        raise ValueError("its config is not a JSON object")
    try:
        return BudgetRule.of(BudgetConfig.model_validate(raw))
    except ValidationError as exc:
        reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'budget'}: {e['msg']}" for e in exc.errors())
        raise ValueError(reason) from None
    except (ArithmeticError, TypeError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None


class PeriodicReload:
    """Re-reads rows from the store every ``interval_s`` on each worker. The store being unreachable is logged once
    per outage (and the last loaded set is kept); anything else is a bug, logged, and the loop goes on."""

    name = "reload"

    def __init__(self, interval_s: float, outage: Outage) -> None:
        self.interval_s = interval_s
        self.outage = outage
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.load()
            except (SQLAlchemyError, OSError) as exc:  # the store is unreachable: keep the last known set
                self.outage.failed(exc)
            except Exception:  # a bug must not stop the refresh loop; keep the last known set
                log.exception("%s failed; keeping the current set", self.name)
            else:
                self.outage.recovered()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class BudgetRefresher(PeriodicReload):
    name = "budget-refresh"

    def __init__(self, stage: LimitsStage, store: BudgetStore, interval_s: float) -> None:
        super().__init__(interval_s, Outage("the budget store (budgets kept as last loaded)", log))
        self.stage = stage
        self.store = store
        self._from_config = stage.budgets
        self._reported: set[str] = set()  # warnings already logged: one line per bad row, not one per reload
        self._stored: list[tuple[str, Any]] | None = None  # the store's rows as last read
        self._compiled: CompiledRows[BudgetRule] = CompiledRows(compile_row)  # rows compiled once per content

    async def replace_config(self, rules: tuple[BudgetRule, ...]) -> None:
        """A hot reload changed the config's budgets: they join the stored ones as last read, at once and without
        a round trip to the store (a change there is announced, and re-read every ``limits.refresh_s``)."""
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
        warnings: list[str] = []
        for name, rule in self._compiled.compile(stored):
            if isinstance(rule, ValueError):
                warning = f"budget {name[:100]!r} in the store is not valid and is not enforced: {rule}"[:_MAX_REASON]
                warnings.append(warning)
                continue
            if rule.config.name not in names:
                rules.append(rule)
        for warning in warnings:
            if warning not in self._reported:
                log.error("%s", warning)
        self._reported = set(warnings)
        self.stage.warnings = tuple(warnings)
        self.stage.budgets = tuple(rules)  # one assignment: a request sees the old set or the new one
