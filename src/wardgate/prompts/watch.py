"""The canary judge of one worker: every ``prompts.canary_check_s`` it shares this process's outcomes, reads every
running canary's totals over its window and rolls back the ones that breach their margins.

Every replica judges; the store hands a run's row to exactly one of them (``end_canary``), and that one writes the
audit entry and calls the webhook, so a rollback is recorded and announced once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from wardgate.core.batching import BatchWriter
from wardgate.prompts.canary import judge
from wardgate.prompts.outcomes import CanaryOutcomes
from wardgate.prompts.state import PromptState
from wardgate.store.audit import AuditEntry
from wardgate.store.prompt_reviews import PromptReviews

log = logging.getLogger("wardgate.prompts")


class CanaryWatch:
    def __init__(
        self,
        state: PromptState,
        outcomes: CanaryOutcomes,
        reviews: PromptReviews,
        audit: BatchWriter[AuditEntry],
        http: aiohttp.ClientSession,
        webhook_url: str | None,
        interval_s: float,
    ) -> None:
        self._state, self._outcomes, self._reviews = state, outcomes, reviews
        self._audit, self._http, self._webhook = audit, http, webhook_url
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._periodic(), name="prompt-canary-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._outcomes.flush(self._longest_window())

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.check()
            except Exception:
                log.warning("canary check failed; trying again", exc_info=True)

    def _longest_window(self) -> float:
        return max((c.rule.window_s for _, c in self._state.canaries()), default=300.0)

    async def check(self) -> list[str]:
        """One round; returns the ids of the runs this worker rolled back."""
        await self._outcomes.flush(self._longest_window())
        rolled = []
        for target, canary in self._state.canaries():
            totals = await self._outcomes.window(canary.id, canary.rule.window_s)
            if totals is None:
                continue
            control, trial = totals
            reason = judge(canary.rule, control, trial)
            if reason is None:
                continue
            row = await self._reviews.end_canary(canary.id)
            if row is None:
                continue  # another replica rolled it back first, or an operator ended it
            rolled.append(canary.id)
            self._outcomes.forget(canary.id)
            event: dict[str, Any] = {
                "type": "prompt.canary.rollback",
                "prompt": row.prompt,
                "project": row.project_id or None,
                "label": row.label,
                "canary": row.id,
                "before": {"label": target.version.id, "canary": row.version, "percent": row.percent},
                "after": {"label": target.version.id, "canary": None},
                "reason": "automatic: " + reason,
                "control": control.view(),
                "canary_stats": trial.view(),
            }
            self._audit.put(
                AuditEntry(
                    "system", "prompt.canary.rollback", _target(row.project_id, row.prompt), event, datetime.now(UTC)
                )
            )
            log.warning("prompt %r label %r: canary %s rolled back: %s", row.prompt, row.label, row.id, reason)
            await self._notify(event)
        if rolled:
            await self._state.load()
        return rolled

    async def stats(self, run: str, window_s: float) -> dict[str, Any] | None:
        """The window's totals per arm as this worker reads them (for the admin API)."""
        totals = await self._outcomes.window(run, window_s)
        if totals is None:
            return None
        return {"control": totals[0].view(), "canary": totals[1].view()}

    async def _notify(self, event: dict[str, Any]) -> None:
        if self._webhook is None:
            return
        try:
            async with self._http.post(
                self._webhook, data=orjson.dumps(event), headers={"content-type": "application/json"}
            ) as response:
                if response.status >= 300:
                    log.warning("prompt webhook %s answered %s", self._webhook, response.status)
        except Exception:
            log.exception("prompt webhook %s failed", self._webhook)


def _target(project_id: str, name: str) -> str:
    return f"{project_id}/{name}" if project_id else name
