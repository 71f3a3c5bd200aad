"""Checking a request before anything else runs: each request guard in turn over the prompt's texts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from wardgate.core.call import Call
from wardgate.guards.cost import CostEstimator
from wardgate.guards.engine import Guard, GuardFailed
from wardgate.guards.errors import GuardBlocked, GuardUnavailable, blocked
from wardgate.guards.memo import HitsMemo
from wardgate.guards.pseudonym import Pseudonyms
from wardgate.guards.scan import Hit, guard_hits, placeholder, redact
from wardgate.guards.state import GuardState
from wardgate.guards.texts import UNTRUSTED_ROLES, Slot, message_count, request_texts
from wardgate.guards.tools import filter_request
from wardgate.usage.tokens import EncodingUnavailable, count_chat, count_text

MAX_SCAN_CHARS = 4_000_000  # characters of one request a guard checks (~1 s of CPU at the measured cost)


def check_request(
    call: Call,
    guards: Sequence[Guard],
    state: GuardState,
    cost: CostEstimator | None = None,
    memo: HitsMemo | None = None,
) -> None:
    """Blocks (GuardBlocked), fails (GuardUnavailable) or redacts the body in place; records every decision.
    ``memo``: what the guards found in texts seen lately (a conversation's earlier turns come back)."""
    slots: list[Slot] | None = None  # the prompt's texts, found once for every guard (a redaction writes through)
    for guard in guards:
        try:
            kind = guard.config.type
            if kind == "tools":
                filter_request(call, guard, state)
            elif kind == "topics":
                continue  # CPU-bound: check_topics runs it off the event loop
            elif kind == "cost":
                if cost is not None:
                    _cost(call, guard, state, cost)
            else:
                if slots is None:
                    slots = request_texts(call.operation, call.body)
                if kind == "size":
                    _size(call, guard, state, slots)
                else:
                    _texts(guard, state, slots, memo)
        except (GuardBlocked, GuardUnavailable):
            raise
        except Exception as exc:  # a bug in a guard: its on_error decides
            state.record(guard, "error", "request", [], "")
            if guard.config.on_error == "block":
                raise GuardUnavailable(
                    f"The {guard.config.type} guard {guard.name!r} could not check this request."
                ) from exc


async def check_topics(call: Call, guards: Sequence[Guard], state: GuardState) -> None:
    """The topics guards, each over the prompt's user, tool and document texts, in a worker thread."""
    from wardgate.guards import topics

    texts = [
        text[:MAX_SCAN_CHARS]
        for role, holder, key in request_texts(call.operation, call.body)
        if role in UNTRUSTED_ROLES and isinstance(text := holder[key], str) and text.strip()
    ]
    for guard in guards:
        config = guard.config
        try:
            findings = await asyncio.to_thread(topics.check, texts, config.deny, config.allow, config.sensitivity)
        except Exception as exc:  # the model failed to load or run: on_error decides
            state.record(guard, "error", "request", [], "")
            if config.on_error == "block":
                raise GuardUnavailable(f"The topics guard {guard.name!r} could not check this request.") from exc
            continue
        if findings:
            state.record(guard, config.action, "request", [Hit(f, guard, None) for f in findings], "")
            if config.action == "block":
                raise blocked(guard.name, "topics", "request")


def _texts(guard: Guard, state: GuardState, slots: list[Slot], memo: HitsMemo | None) -> None:
    injection = guard.config.type == "injection"
    scanned = 0
    for role, holder, key in slots:
        if injection and role not in UNTRUSTED_ROLES:
            continue
        text = holder[key]
        if not text:
            continue
        scanned += len(text)
        if scanned > MAX_SCAN_CHARS:  # bounded work per request: past it the guard cannot tell, on_error decides
            raise GuardFailed(f"guard {guard.name!r}: more than {MAX_SCAN_CHARS} characters to check")
        hits = guard_hits(guard, text) if memo is None else memo.hits(guard, text)
        if not hits:
            continue
        action = guard.config.action
        state.record(guard, action, "request", hits, text)
        if action == "block":
            raise blocked(guard.name, guard.config.type, "request")
        if action == "redact":
            holder[key] = redact(text, hits)
        elif action == "pseudonymize":
            holder[key] = _pseudonymize(state, text, hits)


def _size(call: Call, guard: Guard, state: GuardState, slots: list[Slot]) -> None:
    config = guard.config
    reason = None
    if config.max_messages is not None and message_count(call.operation, call.body) > config.max_messages:
        reason = "messages"
    chars = 0
    if reason is None and (config.max_chars is not None or config.max_prompt_tokens is not None):
        chars = sum(len(holder[key]) for _, holder, key in slots)
        if config.max_chars is not None and chars > config.max_chars:
            reason = "chars"
    limit = config.max_prompt_tokens
    if reason is None and limit is not None and chars > limit:  # fewer characters than the limit: fewer tokens too
        reason = "tokens" if _tokens(call, chars) > limit else None
    if reason is not None:
        state.record(guard, "block", "request", [], "")
        state.decisions[guard.name].counts[f"size.{reason}"] += 1
        raise blocked(guard.name, "size", "request")


def _tokens(call: Call, chars: int) -> int:
    try:
        if call.operation == "chat":
            return count_chat(call.body.get("messages") or [], call.model)
        return sum(
            count_text(call.body[key], call.model) for key in ("prompt", "input") if isinstance(call.body.get(key), str)
        )
    except EncodingUnavailable:
        return chars // 4


def _pseudonymize(state: GuardState, text: str, hits: list[Hit]) -> str:
    names = state.pseudonyms
    if names is None:
        names = state.pseudonyms = Pseudonyms()
    parts: list[str] = []
    pos = 0
    for hit in hits:
        f = hit.finding
        if hit.pattern is None or f.start < pos:
            continue
        parts.append(text[pos : f.start])
        value = text[f.start : f.end]
        parts.append(names.placeholder(f.entity, value) or placeholder(f.entity))
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def _cost(call: Call, guard: Guard, state: GuardState, cost: CostEstimator) -> None:
    limit = guard.config.max_usd
    if limit is None or cost.usd(call) <= limit:
        return
    action = "block" if guard.config.action == "block" else "warn"
    state.record(guard, action, "request", [], "")
    state.decisions[guard.name].counts["over_max_usd"] += 1
    if action == "block":
        raise blocked(guard.name, "cost", "request")
