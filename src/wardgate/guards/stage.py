"""The guards stage: after identity (guards are chosen per project, team, key …) and before limits, so a blocked
request costs nothing. Request guards check the prompt before anything else runs; answer guards check the JSON
answer in ``after`` and a stream chunk by chunk (``guards/stream.py``). Each guard's decision goes to the
``x-wardgate-guards`` header, the audit trail (with masked snippets, never the value) and a Prometheus counter."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from wardgate.core.batching import BatchWriter
from wardgate.core.call import CacheOptions, Call, Chunk, Result
from wardgate.core.relay import BatchHook
from wardgate.guards import mcp as mcp_guards
from wardgate.guards.chunks import AnswerChunks, apply_hits
from wardgate.guards.cost import CostEstimator
from wardgate.guards.engine import Guard, GuardFailed
from wardgate.guards.errors import GuardBlocked, GuardUnavailable
from wardgate.guards.memo import HitsMemo
from wardgate.guards.plan import MAX_PLANS, Plan
from wardgate.guards.request import check_request, check_topics
from wardgate.guards.scan import Hit, Scanner, redact
from wardgate.guards.state import Decisions, GuardState
from wardgate.guards.tools import check_call
from wardgate.store.audit import AuditEntry

log = logging.getLogger("wardgate.guards")
HEADER = b"x-wardgate-guards"


class GuardsStage(AnswerChunks):
    name = "guards"

    def __init__(
        self,
        guards: Sequence[Guard],
        holdback: int,
        audit: BatchWriter[AuditEntry] | None,
        cost: CostEstimator | None = None,
    ) -> None:
        self.guards = guards
        self.cost = cost or CostEstimator(
            {}, 4096
        )  # replaced whole by the refresher: a call sees the old set or the new one
        self.holdback = holdback
        self.audit = audit
        self.decisions: Counter[tuple[str, str]] = Counter()  # (guard, action) → calls; for /metrics
        self.warnings: tuple[str, ...] = ()  # stored guards that do not compile (see guards/refresh.py)

    @property
    def guards(self) -> tuple[Guard, ...]:
        return self._guards

    @guards.setter
    def guards(self, guards: Sequence[Guard]) -> None:
        """One assignment (the refresher's): a call sees the old set or the new one, and the plans of the new."""
        guards = tuple(guards)
        self._plans: dict[int, Plan] = {}
        self._hook = BatchHook(self.on_chunk, self.on_batch)
        self.memo = HitsMemo()  # the prompts' texts that come back, per guard of this set
        self._everywhere = all(g.config.scope == "global" for g in guards)  # each applies to every call
        self._guards = guards

    def _plan(self, call: Call) -> Plan | None:
        """Which guards apply to this call, in which direction: worked out once per set of applicable guards."""
        guards = self._guards
        if self._everywhere:
            mask = (1 << len(guards)) - 1
        else:
            mask = 0
            for i, guard in enumerate(guards):
                if guard.applies(call):
                    mask |= 1 << i
        if not mask:
            return None
        plans = self._plans
        plan = plans.get(mask)
        if plan is None:
            if len(plans) >= MAX_PLANS:  # many scoped guards, many combinations: start again rather than grow
                plans.clear()
            plan = plans[mask] = Plan.of([g for i, g in enumerate(guards) if mask >> i & 1])
        return plan

    async def before(self, call: Call) -> Result | None:
        if not self._guards:  # none configured (yet): the admin API may add some
            return None
        plan = self._plan(call)
        if plan is None:
            return None
        if call.surface == "mcp":
            return self._mcp_before(call, list(plan.guards))
        began = perf_counter()
        state = GuardState(None, plan.tools)
        call.guards = state
        if plan.answer or plan.tools:
            decisions = state.decisions  # not the state, which holds the scanner: no reference cycle (Decisions)
            state.response = Scanner(plan.answer_set, lambda g, e: _failed(decisions, g, e, "response"))
        try:
            check_request(call, plan.request, state, self.cost, self.memo)
            if plan.topics:
                await check_topics(call, plan.topics, state)
            if state.pseudonyms is not None:
                if state.response is None:  # answers are restored: watch them
                    decisions = state.decisions
                    state.response = Scanner([], lambda g, e: _failed(decisions, g, e, "response"))
                # a pseudonymized prompt is the same for every user (<EMAIL_1>) while its restored answer is not:
                # such a call is neither answered from nor stored in the response cache
                call.cache_options = replace(call.cache_options or CacheOptions(), control="no-store")
        finally:
            if state.decisions:
                call.response_headers.append((HEADER, state.header()))
            if call.trace is not None:  # telemetry: the request check's span
                call.trace.step("guard", began, _span_attributes(state, "request"))
        return None

    @staticmethod
    def _mcp_before(call: Call, guards: list[Guard]) -> None:
        """A tool call (guards/mcp.py): its arguments checked now, its result in ``after``."""
        arguments, results = mcp_guards.applicable(guards)
        if not arguments and not results:
            return None
        state = GuardState(None, ())
        call.guards = state
        decisions = state.decisions  # not the state, which holds the scanner: no reference cycle (Decisions)
        if results:
            state.response = Scanner(results, lambda g, e: _failed(decisions, g, e, "response"))
        if arguments:
            scanner = Scanner(arguments, lambda g, e: _failed(decisions, g, e, "request"))

            def on_hits(hits: list[Hit], text: str) -> None:
                apply_hits(decisions, hits, text, "request", "tool arguments")

            mcp_guards.check(scanner, mcp_guards.argument_slots(call.body.get("arguments")), on_hits)
        return None

    # -- answers -----------------------------------------------------------------------------------------------

    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        state = call.guards
        if not isinstance(state, GuardState):
            return
        if result is not None and result.stream is None and result.status < 400 and state.response is not None:
            began = perf_counter()
            try:
                if call.surface == "mcp":
                    mcp_guards.check_result(
                        call,
                        result,
                        state.response,
                        lambda h, t: apply_hits(state.decisions, h, t, "response", "tool result"),
                    )
                else:
                    _check_answer(call, result, state)
            except GuardBlocked as exc:
                _replace(result, exc)
            except GuardUnavailable as exc:
                _replace(result, exc)
            if state.decisions:
                headers = [h for h in call.response_headers if h[0] != HEADER]
                call.response_headers[:] = [*headers, (HEADER, state.header())]
            if call.trace is not None:  # telemetry: the answer check's span (a stream's is checked chunk by chunk)
                call.trace.step("guard", began, _span_attributes(state, "response"))
        self._report(call, state)

    def chunk_hook(self, call: Call) -> Callable[[Call, Chunk], Chunk | None] | None:
        """Chunks matter only when an answer guard applies to this call."""
        state = call.guards
        return self._hook if isinstance(state, GuardState) and state.response is not None else None

    # -- reporting ---------------------------------------------------------------------------------------------

    def _report(self, call: Call, state: GuardState) -> None:
        if not state.decisions:  # nothing found, nothing to report
            return
        principal = call.principal
        actor = f"{principal.kind}:{principal.id}" if principal is not None else "anonymous"
        now = datetime.now(UTC)
        call.guard_decisions = {
            name: {"type": d.guard.config.type, "action": d.action, "counts": dict(d.counts)}
            for name, d in state.decisions.items()
        }
        for name, decision in state.decisions.items():
            self.decisions[(name, decision.action)] += 1
            if self.audit is None:
                continue
            details = {
                "request_id": call.id,
                "guard": name,
                "type": decision.guard.config.type,
                "action": decision.action,
                "direction": decision.direction,
                "counts": dict(decision.counts),
                "snippets": decision.snippets,
            }
            self.audit.put(AuditEntry(actor, f"guard.{decision.action}", name, details, now))


def _span_attributes(state: GuardState, direction: str) -> dict[str, str]:
    """A guard span's attributes: the direction and what the guards did (configured names and actions only)."""
    outcome = state.header().decode() if state.decisions else "pass"
    return {"wardgate.guard.direction": direction, "wardgate.guard.outcome": outcome}


def _failed(decisions: Decisions, guard: Guard, exc: BaseException, direction: str) -> None:
    """A guard raised: fail closed (503 guard_unavailable) unless its on_error is allow."""
    log.warning("guard %r failed (%s): %s", guard.name, direction, type(exc).__name__)
    decisions.record(guard, "error", direction, [], "")
    if guard.config.on_error == "block":
        raise GuardUnavailable(f"The {guard.config.type} guard {guard.name!r} could not check this {direction}.")


def _check_answer(call: Call, result: Result, state: GuardState) -> None:
    scanner = state.response
    assert scanner is not None
    body = result.body
    changed = False
    for choice in body.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        slots: list[tuple[dict[str, Any], str]] = []
        if isinstance(message, dict):
            if isinstance(message.get("content"), str):
                slots.append((message, "content"))
            for tool in message.get("tool_calls") or ():
                function = tool.get("function") if isinstance(tool, dict) else None
                if state.tool_guards and isinstance(function, dict) and isinstance(function.get("name"), str):
                    check_call(state.tool_guards, state.decisions, function["name"])
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    slots.append((function, "arguments"))
        elif isinstance(choice.get("text"), str):
            slots.append((choice, "text"))
        for holder, key in slots:
            text = holder[key]
            hits = scanner.hits(text)
            out = text
            if hits:
                apply_hits(state.decisions, hits, text, "response", "answer")
                out = redact(text, hits)
            if state.pseudonyms is not None:
                out = state.pseudonyms.restore(out, json_string=key == "arguments")
            if out != text:
                holder[key] = out
                changed = True
    if changed:
        result.raw = None  # the body is re-encoded from the redacted object


def _replace(result: Result, exc: GuardBlocked | GuardUnavailable) -> None:
    result.status = exc.status
    result.raw = None
    result._body = exc.to_dict()


__all__ = ["HEADER", "GuardFailed", "GuardsStage"]
