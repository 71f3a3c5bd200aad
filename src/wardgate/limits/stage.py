"""The limits stage: reserve every matching budget and rate limit before the call, settle after it.

Flow: estimate the worst case of the call (prompt tokens counted, output bounded by max_tokens or a configured
estimate, priced at the dearest deployment of the model) → one atomic reservation across all holds → the call →
settle with the real usage, releasing the rest. A denied hard budget either refuses (429 naming the budget and its
reset), falls back to a cheaper model, or asks the cache for an answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from wardgate.accounting.estimate import ensure_usage
from wardgate.core.call import Call, Chunk, Result
from wardgate.core.errors import WardgateError
from wardgate.core.pipeline import StopStream
from wardgate.limits.backend import BudgetHold, Decision, LimitsBackend, RateHold, RateSettlement, Settlement
from wardgate.limits.config import LimitsConfig
from wardgate.limits.estimate import Estimator
from wardgate.limits.rules import WINDOW_SLACK_S, BudgetRule, RateRule, matches, scope_value
from wardgate.limits.windows import Window

log = logging.getLogger("wardgate.limits")


class BudgetExceeded(WardgateError):
    status, type, code = 429, "insufficient_quota", "budget_exceeded"


class RateLimited(WardgateError):
    status, type, code = 429, "rate_limit_error", "rate_limit_exceeded"


CostOf = Callable[[Call], int]
Notify = Callable[[dict[str, object]], Awaitable[None]]


@dataclass(slots=True)
class Reservation:
    """What before() took, for after() to give back."""

    budgets: list[tuple[BudgetRule, str, Window, int]] = field(default_factory=list)  # rule, key, window, amount
    rates: list[tuple[RateRule, str, int]] = field(default_factory=list)  # rule, key, tokens
    output_bound: int | None = None  # a stream longer than this is cut (set when the bound came from the budget)
    estimated: bool = False  # the prompt was bounded by its size, not counted
    streamed_chars: int = 0


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
    ) -> None:
        self.budgets = tuple(budgets)
        self.rates = tuple(rates)
        self.backend = backend
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self._estimate = estimate
        self._cost_of = cost_of
        self._classes = model_classes
        self._notify = notify
        self._windows: dict[tuple[str, object], Window] = {}
        self._settling: set[asyncio.Task[None]] = set()
        self._cached = cached_models  # models the response cache serves: the only ones a budget can tip to it
        self.reservations: dict[str, Reservation] = {}  # by call id, while the call runs
        self.seen_keys: dict[str, tuple[BudgetRule, str, Window]] = {}  # budget counters used: for state and gauges

    async def before(self, call: Call) -> Result | None:
        if not self.budgets and not self.rates:
            return None
        denied: Decision | None = None
        for model in self._candidates(call):
            decision, reservation = await self._reserve(call, model, exact=False)
            if not decision.admitted and decision.denied_kind in ("budget", "tpm") and reservation.estimated:
                decision, reservation = await self._reserve(call, model, exact=True)  # close to a cap: count
            if not decision.admitted and decision.denied_kind == "budget" and self.config.clamp_max_tokens:
                decision, reservation = await self._clamped(call, model, decision, reservation)
            if decision.admitted:
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
                call.cache_control = "only-if-cached"
                call.cache_miss_error = self._refusal(call, decision)  # no stored answer: refused as budgets are
                call.response_headers.append((b"x-wardgate-budget", rule.config.name.encode()))
                return None
            if rule is None or rule.config.on_exceed != "fallback":
                break
        assert denied is not None
        raise self._refusal(call, denied)

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
                fallbacks.extend(m for m in rule.config.fallback if m not in fallbacks and m != call.model)
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
        prompt, output, cost = self._estimate(call, model, exact=exact)
        tokens = prompt + output
        now = datetime.now(UTC)
        reservation = Reservation(estimated=not exact)
        holds = []
        for rule, key, window in budgets:
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
        decision = await self.backend.reserve(call.id, holds, rate_holds, self.config.max_request_s)
        return decision, reservation

    def _denied_budget(self, call: Call, decision: Decision, model: str) -> BudgetRule | None:
        budgets, _ = self._applicable(call, model)
        if decision.denied_index is None or decision.denied_index >= len(budgets):
            return None
        return budgets[decision.denied_index][0]

    def _refusal(self, call: Call, decision: Decision) -> WardgateError:
        budgets, rates = self._applicable(call, call.model)
        index = decision.denied_index or 0
        if decision.denied_kind == "budget" and index < len(budgets):
            rule, _, window = budgets[index]
            reset = window.end.strftime("%Y-%m-%dT%H:%M:%SZ")
            return BudgetExceeded(
                f"Budget '{rule.config.name}' ({rule.config.scope} budget of {rule.describe_limit()} per "
                f"{_window_name(rule)}) has no room for this request; it resets at {reset}.",
                headers={"x-wardgate-budget": rule.config.name, "x-wardgate-budget-reset": reset},
            )
        name = rates[index][0].config.name if index < len(rates) else "rate limit"
        what = {"rpm": "requests per minute", "tpm": "tokens per minute", "concurrent": "concurrent requests"}
        retry = decision.retry_after_s or 1.0
        return RateLimited(
            f"Rate limit '{name}' reached ({what.get(decision.denied_kind or '', 'limit')}); retry after {retry:.1f}s.",
            headers={"retry-after": str(max(1, round(retry + 0.499)))},
        )

    def _headers(self, call: Call, reservation: Reservation, decision: Decision) -> None:
        for (rule, key, window, amount), state in zip(reservation.budgets, decision.budgets, strict=False):
            if rule.config.scope != "end_user":  # client-chosen values: never a growing map or a series each
                self.seen_keys[key] = (rule, key.split(":", 2)[2].rsplit(":", 1)[0], window)
            used = state.spent + state.reserved - amount  # what is spent or held by others: not this worst case
            crossed = [t for t in rule.config.warn_at if used >= t * rule.limit]
            if crossed:
                share = used / rule.limit
                call.response_headers.append(
                    (
                        b"x-wardgate-budget-warning",
                        f"{rule.config.name}: {share:.0%} of {rule.describe_limit()} used this {_window_name(rule)}"
                        f" (resets {window.end:%Y-%m-%dT%H:%M:%SZ})".encode(),
                    )
                )
        for (rate, _, _), rstate in zip(reservation.rates, decision.rates, strict=False):
            cfg = rate.config
            if cfg.rpm is not None and rstate.requests_remaining is not None:
                call.response_headers += [
                    (b"x-ratelimit-limit-requests", str(cfg.rpm).encode()),
                    (b"x-ratelimit-remaining-requests", str(rstate.requests_remaining).encode()),
                    (b"x-ratelimit-reset-requests", f"{rstate.reset_requests_s:.3f}s".encode()),
                ]
            if cfg.tpm is not None and rstate.tokens_remaining is not None:
                call.response_headers += [
                    (b"x-ratelimit-limit-tokens", str(cfg.tpm).encode()),
                    (b"x-ratelimit-remaining-tokens", str(rstate.tokens_remaining).encode()),
                    (b"x-ratelimit-reset-tokens", f"{rstate.reset_tokens_s:.3f}s".encode()),
                ]

    def on_chunk(self, call: Call, chunk: Chunk) -> Chunk | None:
        reservation = self.reservations.get(call.id)
        if reservation is None or reservation.output_bound is None:
            return chunk
        choices = chunk.data.get("choices") or []
        for choice in choices:
            delta = choice.get("delta") or {}
            text = delta.get("content") or choice.get("text") or ""
            for tc in delta.get("tool_calls") or []:
                text += (tc.get("function") or {}).get("arguments") or ""
            reservation.streamed_chars += len(text)
        # a token is at least one character: past bound × 4 characters the reservation is surely exceeded
        if reservation.streamed_chars > reservation.output_bound * 4:
            final = {k: v for k, v in chunk.data.items() if k not in ("choices", "usage")}
            final["choices"] = [{"index": 0, "delta": {}, "finish_reason": "length"}]
            final["wardgate"] = {"stopped": "the stream reached the output its hard budget reserved"}
            raise StopStream(Chunk(final))
        return chunk

    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        reservation = self.reservations.pop(call.id, None)
        if reservation is None or (not reservation.budgets and not reservation.rates):
            return
        ensure_usage(call)  # a stream cut short is charged what it relayed
        usage = call.usage if call.cache_status not in ("hit", "stale") else None  # a cached answer costs nothing
        tokens = usage.total_tokens if usage is not None else 0
        cost = self._cost_of(call) if usage is not None else 0
        now = datetime.now(UTC)
        settlements = [
            Settlement(key, cost if rule.in_usd else tokens, (window.end - now).total_seconds() + WINDOW_SLACK_S)
            for rule, key, window, _ in reservation.budgets
        ]
        rate_settlements = [
            RateSettlement(key, reserved, tokens, rate.config.concurrent is not None)
            for rate, key, reserved in reservation.rates
        ]
        if getattr(self.backend, "remote", False):
            # a network round trip: settle behind the answer instead of before it (the hold only lasts a little
            # longer, which errs on the safe side); shutdown waits for these (drain)
            task = asyncio.get_running_loop().create_task(
                self._settle(call.id, reservation, settlements, rate_settlements)
            )
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)
            return
        await self._settle(call.id, reservation, settlements, rate_settlements)

    async def _settle(
        self,
        request_id: str,
        reservation: Reservation,
        settlements: list[Settlement],
        rate_settlements: list[RateSettlement],
    ) -> None:
        call_id = request_id
        try:
            totals = await self.backend.settle(call_id, settlements, rate_settlements)
        except Exception:  # the backend is down: the hold expires by itself (max_request_s); say so loudly
            log.exception("settling %s failed; its holds will expire after %ss", call_id, self.config.max_request_s)
            return
        for (rule, key, window, _), settlement, total in zip(reservation.budgets, settlements, totals, strict=False):
            before = total - settlement.actual
            for threshold in rule.config.warn_at:
                mark = threshold * rule.limit
                if before < mark <= total and await self.backend.first_crossing(key, threshold, settlement.ttl_s):
                    await self._crossed(rule, key, window, threshold, total)

    async def drain(self) -> None:
        """Wait for the settlements still in flight (shutdown)."""
        while self._settling:
            await asyncio.gather(*list(self._settling), return_exceptions=True)

    async def _crossed(self, rule: BudgetRule, key: str, window: Window, threshold: float, total: int) -> None:
        event: dict[str, object] = {
            "type": "budget.threshold_crossed",
            "budget": rule.config.name,
            "scope": rule.config.scope,
            "counter": key,
            "threshold": threshold,
            "spent": rule.describe(total),
            "limit": rule.describe_limit(),
            "cap": rule.config.cap,
            "window_end": window.end.isoformat(),
        }
        log.warning(
            "budget %s crossed %.0f%% (%s of %s)", rule.config.name, threshold * 100, event["spent"], event["limit"]
        )
        if self._notify is not None:
            await self._notify(event)


def _has_output_limit(body: Mapping[str, object]) -> bool:
    return body.get("max_tokens") is not None or body.get("max_completion_tokens") is not None


def _window_name(rule: BudgetRule) -> str:
    window = rule.config.window
    return window if isinstance(window, str) else f"contract period {window.start}–{window.end}"
