"""The accounting stage: every authenticated call, answered or not, becomes one usage event in the ledger queue.

The row is keyed by the gateway's request id (``call.id``); the client's own id is stored beside it. A call that was
refused, or failed with nothing consumed, is recorded with ``billable`` false: it stays on the record (who asked for
what, and why it was refused) but is not usage, so aggregates and chargeback never count it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from time import perf_counter

from wardgate.core.batching import BatchWriter
from wardgate.core.call import Call, CostOf, Result
from wardgate.core.errors import WardgateError
from wardgate.store.usage import UsageEvent, bounded
from wardgate.usage.estimate import ensure_usage

CLIENT_CLOSED = 499  # nginx's convention: the client went away before the answer was complete


def status_of(error: BaseException | None) -> tuple[int, str | None]:
    if error is None:
        return 200, None
    if isinstance(error, WardgateError):
        return error.status, error.code or error.type
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return CLIENT_CLOSED, "client_closed"
    return 500, type(error).__name__


class AccountingStage:
    name = "accounting"

    def __init__(self, ledger: BatchWriter[UsageEvent], cost_of: CostOf) -> None:
        self._ledger = ledger
        self._cost_of = cost_of

    async def before(self, call: Call) -> Result | None:
        return None

    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        principal = call.principal
        if principal is None:  # refused before identity: nobody to charge, and no flooding the ledger
            return
        if error is not None and call.operation == "batch_output":
            return  # retried under the same ledger id (api/batch_settle.py): an error row would shadow the real one
        status, code = status_of(error)
        await ensure_usage(call)
        usage = call.usage
        deployment = call.deployment
        event = UsageEvent(
            request_id=call.id,
            ts=datetime.now(UTC),
            principal_kind=principal.kind,
            principal_id=principal.id,
            surface=call.surface,
            operation=call.operation,
            model=call.model,
            status=status,
            project_id=principal.project,
            team_id=principal.team,
            user_id=principal.user,
            key_id=principal.id if principal.kind == "key" else None,
            deployment=deployment.name if deployment is not None else None,
            provider=deployment.provider if deployment is not None else None,
            latency_ms=round((perf_counter() - call.started) * 1000),
            ttft_ms=round((call.first_token_at - call.started) * 1000) if call.first_token_at else None,
            error_code=code,
            stream=call.stream,
            cache_hit=call.cache_status in ("hit", "stale"),
            details=_details(call),
            client_request_id=call.client_request_id,
            billable=status < 400 or usage is not None,  # answered, or tokens were consumed (a stream cut short)
        )
        if call.prompt is not None:
            event.prompt_name, event.prompt_version = call.prompt.name, call.prompt.version
            event.prompt_variant = call.prompt.variant
        if usage is not None:
            event.input_tokens = usage.input_tokens
            event.output_tokens = usage.output_tokens
            event.cached_tokens = usage.cached_tokens
            event.cache_write_tokens = usage.cache_write_tokens
            event.reasoning_tokens = usage.reasoning_tokens
            if deployment is not None:
                event.cost_nanousd = self._cost_of(call)
        if call.fixed_cost_nanousd is not None and error is None:  # an MCP call the upstream answered
            event.cost_nanousd = call.fixed_cost_nanousd
        self._ledger.put(bounded(event))  # every value storable: one hostile field never stalls the ledger


def _details(call: Call) -> dict[str, object] | None:
    route = _route(call)
    if call.ledger_details is not None:
        route = {**(route or {}), **call.ledger_details}
    media = call.usage.media() if call.usage is not None else None  # searches, audio seconds, characters, images
    if not call.usage_estimated and not media and not call.guard_decisions:
        return route
    details: dict[str, object] = {**(route or {}), **(media or {})}
    if call.usage_estimated:
        details["usage_estimated"] = True
    if call.guard_decisions:  # guard name → type, action, counts per entity type (never the values)
        details["guards"] = call.guard_decisions
        # the analytics dimension `guard_outcome`: one value per combination of what the guards did (config names)
        details["guard_outcome"] = ",".join(f"{n}={d['action']}" for n, d in sorted(call.guard_decisions.items()))
    return details


def _route(call: Call) -> dict[str, object] | None:
    """How the call was routed, as the x-wardgate-route header says it (issue 6: every decision explained)."""
    route = call.route
    if route is None:
        return None
    out: dict[str, object] = {"strategy": route.strategy, "deployment": route.deployment, "attempts": route.attempts}
    if route.failed:
        out["failed"] = list(route.failed)
    for name in ("model", "arm", "model_class", "difficulty"):
        value = getattr(route, name)
        if value is not None:
            out["fallback_model" if name == "model" else name] = value
    return {"route": out}
