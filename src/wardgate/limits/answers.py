"""What a client is told about its limits: the refusal (429 naming the budget or rate limit) and the headers of an
admitted call (budget warnings, OpenAI's ``x-ratelimit-*``). Pure functions over the stage's decision."""

from __future__ import annotations

from collections.abc import Sequence

from wardgate.core.errors import WardgateError
from wardgate.limits.backend import Decision
from wardgate.limits.rules import BudgetRule, RateRule
from wardgate.limits.windows import Window

Header = tuple[bytes, bytes]


class BudgetExceeded(WardgateError):
    status, type, code = 429, "insufficient_quota", "budget_exceeded"


class RateLimited(WardgateError):
    status, type, code = 429, "rate_limit_error", "rate_limit_exceeded"


def refusal(
    budgets: Sequence[tuple[BudgetRule, str, Window]], rates: Sequence[tuple[RateRule, str]], decision: Decision
) -> WardgateError:
    index = decision.denied_index or 0
    if decision.denied_kind == "budget" and index < len(budgets):
        rule, _, window = budgets[index]
        reset = window.end.strftime("%Y-%m-%dT%H:%M:%SZ")
        return BudgetExceeded(
            f"Budget '{rule.config.name}' ({rule.config.scope} budget of {rule.describe_limit()} per "
            f"{window_name(rule)}) has no room for this request; it resets at {reset}.",
            headers={"x-wardgate-budget": rule.config.name, "x-wardgate-budget-reset": reset},
        )
    name = rates[index][0].config.name if index < len(rates) else "rate limit"
    what = {"rpm": "requests per minute", "tpm": "tokens per minute", "concurrent": "concurrent requests"}
    retry = decision.retry_after_s or 1.0
    return RateLimited(
        f"Rate limit '{name}' reached ({what.get(decision.denied_kind or '', 'limit')}); retry after {retry:.1f}s.",
        headers={"retry-after": str(max(1, round(retry + 0.499)))},
    )


def state_headers(
    budgets: Sequence[tuple[BudgetRule, str, Window, int]],
    rates: Sequence[tuple[RateRule, str, int]],
    decision: Decision,
) -> list[Header]:
    out: list[Header] = []
    for (rule, _, window, amount), state in zip(budgets, decision.budgets, strict=False):
        used = state.spent + state.reserved - amount  # what is spent or held by others: not this worst case
        crossed = [t for t in rule.config.warn_at if used >= t * rule.limit]
        if crossed:
            share = used / rule.limit
            out.append(
                (
                    b"x-wardgate-budget-warning",
                    f"{rule.config.name}: {share:.0%} of {rule.describe_limit()} used this {window_name(rule)}"
                    f" (resets {window.end:%Y-%m-%dT%H:%M:%SZ})".encode(),
                )
            )
    for (rate, _, _), rstate in zip(rates, decision.rates, strict=False):
        cfg = rate.config
        if cfg.rpm is not None and rstate.requests_remaining is not None:
            out += [
                (b"x-ratelimit-limit-requests", str(cfg.rpm).encode()),
                (b"x-ratelimit-remaining-requests", str(rstate.requests_remaining).encode()),
                (b"x-ratelimit-reset-requests", f"{rstate.reset_requests_s:.3f}s".encode()),
            ]
        if cfg.tpm is not None and rstate.tokens_remaining is not None:
            out += [
                (b"x-ratelimit-limit-tokens", str(cfg.tpm).encode()),
                (b"x-ratelimit-remaining-tokens", str(rstate.tokens_remaining).encode()),
                (b"x-ratelimit-reset-tokens", f"{rstate.reset_tokens_s:.3f}s".encode()),
            ]
    return out


def window_name(rule: BudgetRule) -> str:
    window = rule.config.window
    return window if isinstance(window, str) else f"contract period {window.start}–{window.end}"
