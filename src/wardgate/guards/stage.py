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
from wardgate.guards import mcp as mcp_guards
from wardgate.guards.cost import CostEstimator
from wardgate.guards.engine import Guard, GuardFailed
from wardgate.guards.envelope import GENERAL, enveloped, find_envelope, released_text
from wardgate.guards.errors import GuardBlocked, GuardUnavailable, blocked
from wardgate.guards.memo import HitsMemo
from wardgate.guards.plan import MAX_PLANS, Plan
from wardgate.guards.pseudonym import StreamRestorer
from wardgate.guards.request import check_request, check_topics
from wardgate.guards.scan import Hit, Scanner, redact
from wardgate.guards.state import MAX_CHOICES, GuardState
from wardgate.guards.stream import TextRedactor, ToolCallHold
from wardgate.guards.tools import check_call
from wardgate.store.audit import AuditEntry

log = logging.getLogger("wardgate.guards")
HEADER = b"x-wardgate-guards"


class GuardsStage:
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
            state.response = Scanner(plan.answer_set, lambda g, e: _failed(state, g, e, "response"))
        try:
            check_request(call, plan.request, state, self.cost, self.memo)
            if plan.topics:
                await check_topics(call, plan.topics, state)
            if state.pseudonyms is not None:
                if state.response is None:  # answers are restored: watch them
                    state.response = Scanner([], lambda g, e: _failed(state, g, e, "response"))
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
        if results:
            state.response = Scanner(results, lambda g, e: _failed(state, g, e, "response"))
        if arguments:
            scanner = Scanner(arguments, lambda g, e: _failed(state, g, e, "request"))

            def on_hits(hits: list[Hit], text: str) -> None:
                _apply(state, hits, text, "request", "tool arguments")

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
                        call, result, state.response, lambda h, t: _apply(state, h, t, "response", "tool result")
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
        return self.on_chunk if isinstance(state, GuardState) and state.response is not None else None

    def on_chunk(self, call: Call, chunk: Chunk) -> Chunk | None:
        state = call.guards
        if not isinstance(state, GuardState) or state.response is None:
            return chunk
        envelope = state.envelope
        if envelope is not None and chunk.usage is None and chunk.raw is not None and not chunk.parsed:
            out = enveloped(state, envelope, chunk.raw)
            if out is not GENERAL:
                return out
        raw = chunk.raw if not chunk.parsed and chunk.usage is None and not state.envelope_tried else None
        data = chunk.data
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            return chunk
        if len(choices) == 1 and chunk.usage is None:  # most chunks: one choice's next piece of text
            if raw is not None:
                find_envelope(state, raw, data, choices[0])
            released = self._one_text(state, choices[0])
            if released is not None:
                return None if not released and not data.get("usage") else Chunk(data)
        silent = chunk.usage is None and not data.get("usage")
        for choice in choices:
            if isinstance(choice, dict) and not self._choice(call, state, choice):
                silent = False
        if silent:
            return None
        return Chunk(data, usage=chunk.usage)

    def _choice(self, call: Call, state: GuardState, choice: dict[str, Any]) -> bool:
        """Checks one streamed choice in place; False when what is left of it still says something."""
        index = choice.get("index", 0)
        index = index if isinstance(index, int) else 0
        delta = choice.get("delta")
        if type(delta) is dict and len(delta) == 1 and not choice.get("finish_reason") and not choice.get("logprobs"):
            text = delta.get("content")
            released = released_text(state, index, text) if type(text) is str else None
            if released is not None:
                delta["content"] = released
                return not released
        text_key, holder = ("content", choice.get("delta")) if "delta" in choice else ("text", choice)
        if not isinstance(holder, dict):
            return False
        redactor = state.texts.get(index)
        if redactor is None:
            if len(state.texts) >= MAX_CHOICES:
                raise GuardUnavailable("The answer has more choices than the guards check.")
            scanner = state.response
            assert scanner is not None

            def on_hits(hits: list[Hit], scanned: str) -> None:
                _apply(state, hits, scanned, "response", "answer")

            redactor = state.texts[index] = TextRedactor(scanner, self.holdback, on_hits)
            state.tools[index] = ToolCallHold(lambda name, args: _check_tool(state, name, args))
        tools = state.tools[index]
        text = holder.get(text_key)
        checks_text = bool(state.response is not None and state.response.guards)
        if not checks_text:  # only tools guards: text passes as it is
            released = text if isinstance(text, str) else ""
        else:
            released = redactor.feed(text) if isinstance(text, str) and text else ""
        deltas = holder.get("tool_calls")
        try:
            calls = tools.feed(deltas) if isinstance(deltas, list) else []
            finish = choice.get("finish_reason")
            if finish:
                if checks_text:
                    released += redactor.flush()
                calls += tools.finish()
        except ValueError as exc:
            raise GuardUnavailable("A streamed tool call could not be checked.") from exc
        names = state.pseudonyms
        if names is not None and names.values:
            restorer = state.restorers.get(index)
            if restorer is None:
                restorer = state.restorers[index] = StreamRestorer(names)
            released = restorer.feed(released) if released else ""
            if finish:
                released += restorer.flush()
        if isinstance(text, str) or released:
            holder[text_key] = released
        if calls:
            holder["tool_calls"] = calls
        elif "tool_calls" in holder:
            del holder["tool_calls"]
        if released or calls or finish or choice.get("logprobs"):
            return False
        rest = [k for k in holder if k != text_key] if text_key == "content" else []
        return not rest

    @staticmethod
    def _one_text(state: GuardState, choice: object) -> str | None:
        """``_choice`` for a choice whose delta is text and nothing else, past its first chunk, without pseudonyms:
        the text released (written into the choice); None when ``_choice`` is needed."""
        if type(choice) is not dict:
            return None
        delta = choice.get("delta")
        if type(delta) is not dict or len(delta) != 1 or choice.get("finish_reason") or choice.get("logprobs"):
            return None
        text = delta.get("content")
        if type(text) is not str:
            return None
        index = choice.get("index", 0)
        released = released_text(state, index if isinstance(index, int) else 0, text)
        if released is not None:
            delta["content"] = released
        return released

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


def _failed(state: GuardState, guard: Guard, exc: BaseException, direction: str) -> None:
    """A guard raised: fail closed (503 guard_unavailable) unless its on_error is allow."""
    log.warning("guard %r failed (%s): %s", guard.name, direction, type(exc).__name__)
    state.record(guard, "error", direction, [], "")
    if guard.config.on_error == "block":
        raise GuardUnavailable(f"The {guard.config.type} guard {guard.name!r} could not check this {direction}.")


def _apply(state: GuardState, hits: list[Hit], scanned: str, direction: str, what: str) -> None:
    """Records the hits' decisions; raises GuardBlocked when one of them blocks."""
    by_guard: dict[str, list[Hit]] = {}
    for hit in hits:
        by_guard.setdefault(hit.guard.name, []).append(hit)
    block: Guard | None = None
    for group in by_guard.values():
        guard = group[0].guard
        state.record(guard, guard.config.action, direction, group, scanned)
        if guard.config.action == "block" and block is None:
            block = guard
    if block is not None:
        raise blocked(block.name, block.config.type, what)


def _check_tool(state: GuardState, name: str, arguments: str) -> str:
    if state.tool_guards:
        check_call(state.tool_guards, state, name)
    scanner = state.response
    if scanner is None or not arguments:
        return arguments
    hits = scanner.hits(arguments)
    if hits:
        _apply(state, hits, arguments, "response", "tool call")
        arguments = redact(arguments, hits)
    if state.pseudonyms is not None:
        arguments = state.pseudonyms.restore(arguments, json_string=True)
    return arguments


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
                    check_call(state.tool_guards, state, function["name"])
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    slots.append((function, "arguments"))
        elif isinstance(choice.get("text"), str):
            slots.append((choice, "text"))
        for holder, key in slots:
            text = holder[key]
            hits = scanner.hits(text)
            out = text
            if hits:
                _apply(state, hits, text, "response", "answer")
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
