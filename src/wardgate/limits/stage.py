"""The limits stage: reserve every matching budget and rate limit before the call, settle after it.

Flow: estimate the worst case of the call (prompt tokens counted, output bounded by max_tokens or a configured
estimate, priced at the dearest deployment of the model) → one atomic reservation across all holds → the call →
settle with the real usage, releasing the rest. A denied hard budget either refuses (429 naming the budget and its
reset), falls back to a cheaper model, or asks the cache for an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from wardgate.config.limits import LimitsConfig
from wardgate.core.call import Call, Chunk, Result
from wardgate.core.errors import StoreUnavailable, WardgateError
from wardgate.core.pipeline import StopStream
from wardgate.limits.answers import refusal, state_headers
from wardgate.limits.backend import BudgetHold, Decision, LimitsBackend, RateHold
from wardgate.limits.counters import Counters, LedgerSpend, Source
from wardgate.limits.estimate import Estimator
from wardgate.limits.reservation import MAX_AMOUNT, Notify, Reservation
from wardgate.limits.rules import WINDOW_SLACK_S, BudgetRule, RateRule, matches, scope_value
from wardgate.limits.settle import Settler
from wardgate.limits.windows import Window
from wardgate.usage import tokens

log = logging.getLogger("wardgate.limits")


CostOf = Callable[[Call], int]
STREAMED_TEXT = frozenset({"chat", "completions"})  # streams whose chunks are text the output bound applies to
UNCOUNTED = (b"x-wardgate-limits", b"unenforced; the limits store is unavailable")
# A counter is "near" its cap when its room is less than this many of the last loose hold: then first holds on it
# count the prompt exactly (tens to thousands of µs) instead of bounding it by its size (a few µs)
NEAR_HOLDS = 64
EXACT_RATIO = 8  # an exact hold is smaller than the size bound (≈4× for English): it must not flip "near" back
MAX_NEAR = 10_000


class LimitsStage:
    name = "limits"

    def __init__(
        self,
        budgets: Sequence[BudgetRule],
        rates: Sequence[RateRule],
        backend: LimitsBackend,
        config: LimitsConfig,
        estimate: Estimator,
        cost_of: CostOf,
        model_classes: Mapping[str, str],
        notify: Notify | None = None,
        cached_models: frozenset[str] = frozenset(),
        ledger: LedgerSpend | None = None,
    ) -> None:
        self.budgets = tuple(budgets)
        self.rates = tuple(rates)
        self.backend = backend
        self.counters = Counters(backend, ledger)
        self.warnings: tuple[str, ...] = ()  # stored budgets skipped as invalid (set by the refresher)
        self._admitting_uncounted = False
        self._near: set[str] = set()  # budget counters whose last decision left little room: count exactly
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self._estimate = estimate
        self._classes = model_classes
        self.settler = Settler(backend, self.counters, cost_of, notify)
        self._windows: dict[tuple[str, object], Window] = {}
        self._cached = cached_models  # models the response cache serves: the only ones a budget can tip to it
        self.reservations: dict[str, Reservation] = {}  # by call id, while the call runs
        # budget counters used, for state and gauges: the latest window per budget and scope value (a per-user
        # budget's past windows would otherwise stay here for ever, one entry per user per day)
        self.seen_keys: dict[tuple[str, str], tuple[BudgetRule, str, Window]] = {}

    async def before(self, call: Call) -> Result | None:
        if not self.budgets and not self.rates:
            return None
        if call.operation == "batch_output":  # spent upstream already: never refused, settled at its real cost
            budgets, _ = self._applicable(call, call.model)
            self.reservations[call.id] = Reservation(budgets=[(rule, key, window, 0) for rule, key, window in budgets])
            return None
        try:
            return await self._admit(call)
        except StoreUnavailable:
            if self.config.on_store_error == "refuse":
                raise
        # limits.on_store_error: allow: admitted without a hold; what it spends is settled (or owed) afterwards
        if not self._admitting_uncounted:
            self._admitting_uncounted = True
            log.warning("admitting requests without budgets or rate limits until the limits store recovers")
        budgets, _ = self._applicable(call, call.model)
        reservation = Reservation(uncounted=True)
        reservation.budgets = [(rule, key, window, 0) for rule, key, window in budgets]
        self.reservations[call.id] = reservation
        call.response_headers.append(UNCOUNTED)
        return None

    async def _admit(self, call: Call) -> Result | None:
        denied: Decision | None = None
        for model in self._candidates(call):
            decision, reservation = await self._reserve(call, model, exact=False)
            if not decision.admitted and decision.denied_kind in ("budget", "tpm") and reservation.estimated:
                decision, reservation = await self._reserve(call, model, exact=True)  # close to a cap: count
            if self._blocked_by_holds(decision, reservation):
                decision, reservation = await self._wait_for_room(call, model, decision, reservation)
            if not decision.admitted and decision.denied_kind == "budget" and self.config.clamp_max_tokens:
                decision, reservation = await self._clamped(call, model, decision, reservation)
            if decision.admitted:
                self._admitting_uncounted = False
                if model != call.model:
                    call.response_headers.append((b"x-wardgate-budget-fallback", f"{call.model}->{model}".encode()))
                    call.model = model
                self.reservations[call.id] = reservation
                self._headers(call, reservation, decision)
                return None
            denied = decision
            if decision.denied_kind != "budget":
                break
            rule = self._denied_budget(call, decision, model)
            if rule is not None and rule.config.on_exceed == "cache" and model == call.model and model in self._cached:
                # answer only from the cache: a hit costs nothing; a miss is refused by the cache stage (504)
                call.cache_only = self._refusal(call, decision)  # no stored answer: refused as budgets are
                call.response_headers.append((b"x-wardgate-budget", rule.config.name.encode()))
                return None
            if rule is None or rule.config.on_exceed != "fallback":
                break
        assert denied is not None
        raise self._refusal(call, denied)

    def _blocked_by_holds(self, decision: Decision, reservation: Reservation) -> bool:
        """Refused by a hard budget that could afford the call if other requests' holds settled."""
        index, state = decision.denied_index, decision.denied_state
        if decision.denied_kind != "budget" or state is None or index is None or index >= len(reservation.budgets):
            return False
        rule, _, _, amount = reservation.budgets[index]
        return self.config.hold_wait_s > 0 and state.reserved > 0 and state.spent + amount <= rule.limit

    async def _wait_for_room(
        self, call: Call, model: str, decision: Decision, reservation: Reservation
    ) -> tuple[Decision, Reservation]:
        """Near the cap, wait for other requests' holds to settle before refusing (limits.hold_wait_s)."""
        latest = (decision, reservation)
        _, key, _, _ = reservation.budgets[decision.denied_index or 0]

        async def retry() -> bool:
            nonlocal latest
            latest = await self._reserve(call, model, exact=True)
            return not self._blocked_by_holds(*latest)

        deadline = asyncio.get_running_loop().time() + self.config.hold_wait_s
        await self.counters.wait_for_room(key, deadline, retry)
        return latest

    async def _clamped(
        self, call: Call, model: str, decision: Decision, reservation: Reservation
    ) -> tuple[Decision, Reservation]:
        """Lower the request's max_tokens to what the refusing budget still affords, and try once more."""
        index = decision.denied_index
        if index is None or index >= len(reservation.budgets):
            return decision, reservation
        rule, key, _, amount = reservation.budgets[index]
        state = await self.backend.read(key)
        room = rule.limit - state.spent - state.reserved
        prompt, output, cost = self._estimate(call, model)
        if output <= 0 or room <= 0:
            return decision, reservation
        if rule.in_usd:
            prompt_cost = self._estimate.cost(model, prompt, 0)
            per_token = (cost - prompt_cost) / output
            affordable = int((room - prompt_cost) // per_token) if per_token > 0 else output
        else:
            affordable = room - prompt
        n = call.body.get("n") if isinstance(call.body.get("n"), int) else 1
        affordable //= max(1, n or 1)
        if affordable < 1:
            return decision, reservation
        original = call.body
        call.body = {**original, "max_tokens": affordable}
        call.body.pop("max_completion_tokens", None)
        retried, retried_reservation = await self._reserve(call, model)
        if retried.admitted:
            call.response_headers.append((b"x-wardgate-max-tokens-clamped", str(affordable).encode()))
            return retried, retried_reservation
        call.body = original
        return decision, reservation

    def _candidates(self, call: Call) -> list[str]:
        fallbacks: list[str] = []
        for rule in self.budgets:
            if rule.config.on_exceed == "fallback" and matches(
                rule.config, scope_value(rule.config.scope, call, self._classes)
            ):
                fallbacks.extend(
                    m
                    for m in rule.config.fallback
                    if m not in fallbacks and m != call.model and (call.principal is None or call.principal.may_use(m))
                )
        return [call.model, *fallbacks]

    def _applicable(
        self, call: Call, model: str
    ) -> tuple[list[tuple[BudgetRule, str, Window]], list[tuple[RateRule, str]]]:
        original, call.model = call.model, model  # scope values of model/model_class follow the candidate
        try:
            now = datetime.now(UTC)
            budgets = []
            for rule in self.budgets:
                values = scope_value(rule.config.scope, call, self._classes)
                if matches(rule.config, values):
                    window = self._window(rule, now)
                    if window is not None:
                        budgets.append((rule, rule.key(values[0], window), window))
            rates = []
            for rate in self.rates:
                values = scope_value(rate.config.scope, call, self._classes)
                if matches(rate.config, values):
                    rates.append((rate, rate.key(values[0])))
            return budgets, rates
        finally:
            call.model = original

    def _window(self, rule: BudgetRule, now: datetime) -> Window | None:
        """The rule's current window, computed once per window rather than per request (time zones are slow)."""
        slot = (rule.config.name, rule.config.window)  # a budget replaced with another window gets its own
        found = self._windows.get(slot)
        if found is not None and found.start <= now < found.end:
            return found
        window = rule.window(now, self.zone)
        if window is not None:
            self._windows[slot] = window
        return window

    async def _reserve(self, call: Call, model: str, *, exact: bool = True) -> tuple[Decision, Reservation]:
        budgets, rates = self._applicable(call, model)
        if not budgets and not rates:
            return Decision(True), Reservation()
        if not exact and self._near and any(key in self._near for _, key, _ in budgets):
            exact = True  # close to a cap: the first hold is tight, so the cap's last percent can be spent
        if exact:
            await self._tokenizer_ready(model)
        prompt, output, cost = self._estimate(call, model, exact=exact)
        tokens = min(prompt + output, MAX_AMOUNT)
        cost = min(cost, MAX_AMOUNT)
        now = datetime.now(UTC)
        reservation = Reservation(estimated=not exact)
        holds = []
        sources: list[Source] = []
        for rule, key, window in budgets:
            sources.append((rule, key, window))
            amount = cost if rule.in_usd else tokens
            ttl = (window.end - now).total_seconds() + WINDOW_SLACK_S
            holds.append(
                BudgetHold(
                    key,
                    rule.limit,
                    rule.config.cap == "hard",
                    amount,
                    ttl,
                    rule.burst_over,
                    rule.config.burst.duration_s if rule.config.burst else 0.0,
                )
            )
            reservation.budgets.append((rule, key, window, amount))
        rate_holds = []
        for rate, key in rates:
            cfg = rate.config
            rate_holds.append(RateHold(key, cfg.rpm, cfg.tpm, cfg.concurrent, tokens, cfg.algorithm == "token_bucket"))
            reservation.rates.append((rate, key, tokens))
        if not _has_output_limit(call.body) and any(r.config.cap == "hard" for r, *_ in reservation.budgets):
            reservation.output_bound = output
        decision = await self.counters.reserve(call.id, holds, rate_holds, self.config.max_request_s, sources)
        self._remember_room(decision, reservation)
        return decision, reservation

    @staticmethod
    async def _tokenizer_ready(model: str) -> None:
        with contextlib.suppress(tokens.EncodingUnavailable):  # counting raises it again, as it did before
            await tokens.ready(model)

    def _remember_room(self, decision: Decision, reservation: Reservation) -> None:
        """Which counters are near their cap, from what this reservation saw (no extra round trip)."""
        if decision.admitted:
            for (rule, key, _, amount), state in zip(reservation.budgets, decision.budgets, strict=False):
                if rule.config.cap != "hard":
                    continue
                room = rule.limit - state.spent - state.reserved
                if room < NEAR_HOLDS * amount:
                    if len(self._near) >= MAX_NEAR:
                        self._near.clear()
                    self._near.add(key)
                elif room >= NEAR_HOLDS * amount * (1 if reservation.estimated else EXACT_RATIO):
                    self._near.discard(key)
            return
        index = decision.denied_index
        if decision.denied_kind == "budget" and index is not None and index < len(reservation.budgets):
            if len(self._near) >= MAX_NEAR:
                self._near.clear()
            self._near.add(reservation.budgets[index][1])

    def _denied_budget(self, call: Call, decision: Decision, model: str) -> BudgetRule | None:
        budgets, _ = self._applicable(call, model)
        if decision.denied_index is None or decision.denied_index >= len(budgets):
            return None
        return budgets[decision.denied_index][0]

    def _refusal(self, call: Call, decision: Decision) -> WardgateError:
        budgets, rates = self._applicable(call, call.model)
        return refusal(budgets, rates, decision)

    def _headers(self, call: Call, reservation: Reservation, decision: Decision) -> None:
        for rule, key, window, _ in reservation.budgets:
            if rule.config.scope != "end_user":  # client-chosen values: never a growing map or a series each
                value = rule.value_of(key)
                self.seen_keys[rule.config.name, value] = (rule, value, window)
        call.response_headers += state_headers(reservation.budgets, reservation.rates, decision)

    def chunk_hook(self, call: Call) -> Callable[[Call, Chunk], Chunk | None] | None:
        """Chunks matter only to a hard cap that bounded the output itself (no ``max_tokens`` in the request)."""
        reservation = self.reservations.get(call.id)
        return self.on_chunk if reservation is not None and reservation.output_bound is not None else None

    def on_chunk(self, call: Call, chunk: Chunk) -> Chunk | None:
        reservation = self.reservations.get(call.id)
        if reservation is None or reservation.output_bound is None or call.operation not in STREAMED_TEXT:
            return chunk  # streamed audio (speech) is billed by its input's characters, not by what it relays
        native = call.responses_native is not None and call.responses_native.answered
        if native:  # a Responses event stream the provider sent as it is: its text is in `delta`
            delta = chunk.data.get("delta")
            if isinstance(delta, str) and chunk.data.get("type", "").endswith(".delta"):
                reservation.streamed_chars += len(delta)
        choices = () if native else chunk.data.get("choices") or []
        for choice in choices:
            delta = choice.get("delta") or {}
            text = delta.get("content") or choice.get("text") or ""
            for tc in delta.get("tool_calls") or []:
                text += (tc.get("function") or {}).get("arguments") or ""
            reservation.streamed_chars += len(text)
        # a token is at least one character: past bound × 4 characters the reservation is surely exceeded
        if reservation.streamed_chars > reservation.output_bound * 4:
            stopped = {"stopped": "the stream reached the output its hard budget reserved"}
            if native:  # the Responses API's own end of a cut answer
                reason = {"reason": "max_output_tokens"}
                response = {"status": "incomplete", "incomplete_details": reason}
                raise StopStream(Chunk({"type": "response.incomplete", "response": response, "wardgate": stopped}))
            final = {k: v for k, v in chunk.data.items() if k not in ("choices", "usage")}
            final["choices"] = [{"index": 0, "delta": {}, "finish_reason": "length"}]
            final["wardgate"] = {"stopped": "the stream reached the output its hard budget reserved"}
            raise StopStream(Chunk(final))
        return chunk

    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        reservation = self.reservations.pop(call.id, None)
        if reservation is None or (not reservation.budgets and not reservation.rates):
            return
        await self.settler.settle(call, reservation, error)

    async def drain(self) -> None:
        """Wait for the settlements still in flight (shutdown)."""
        await self.settler.drain()


def _has_output_limit(body: Mapping[str, object]) -> bool:
    return body.get("max_tokens") is not None or body.get("max_completion_tokens") is not None
