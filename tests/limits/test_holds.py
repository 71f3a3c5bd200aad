"""Holds are tight enough that a cap can be spent: a short prompt's first hold is its exact token count, and near
a hard cap a request that only other requests' holds block waits for them instead of being refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.core.call import Call
from wardgate.limits.estimate import prompt_upper_bound
from wardgate.limits.state import budget_states
from wardgate.usage import tokens

MESSAGES: list[Any] = [{"role": "user", "content": "hello budget, how are you today?"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as f:
        yield f


def gateway(fake: FakeOpenAI, budgets: str, limits: str = "") -> RunningGateway:
    return gateway_from_yaml(f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  small: [{{provider: up, model: gpt-4o-mini, price: {{input: 1, output: 1}}}}]
  slow: [{{provider: up, model: slow-150, price: {{input: 1, output: 1}}}}]
{limits}
budgets:
{budgets}
""")


def call(body: dict[str, Any], request_id: str) -> Call:
    return Call(request_id, "openai", "chat", body["model"], body, False, None, time.perf_counter())


def test_near_a_cap_the_first_hold_is_the_exact_prompt_count_far_from_it_the_cheap_bound(fake: FakeOpenAI) -> None:
    budgets = """  - {name: roomy, scope: model, match: small, window: day, limit_tokens: 100000000}
  - {name: tight, scope: model, match: slow, window: day, limit_tokens: 2000}"""
    with gateway(fake, budgets) as gw:
        stage = gw.worker.limits
        assert stage is not None

        def first_hold(model: str, n: int) -> tuple[int, bool]:
            c = call({"model": model, "messages": MESSAGES, "max_tokens": 10}, f"{model}-{n}")
            assert gw.run(stage.before(c)) is None
            reservation = stage.reservations[c.id]
            gw.run(stage.after(c, None, None))
            return reservation.budgets[0][3], reservation.estimated

        exact = tokens.count_chat(MESSAGES, "small") + 10
        bound = prompt_upper_bound(call({"model": "small", "messages": MESSAGES}, "x")) + 10
        assert bound > 2 * exact
        # far from the cap: the size bound (microseconds), however many calls
        assert [first_hold("small", n) for n in range(3)] == [(bound, True)] * 3
        # the first call learns the counter is near its cap (2000 < 64 holds): the next first holds are exact
        assert first_hold("slow", 0) == (bound, True)
        assert [first_hold("slow", n) for n in range(1, 3)] == [(exact, False)] * 2


async def _fire(url: str, n: int) -> list[int]:
    async with httpx.AsyncClient(timeout=30) as http:

        async def one() -> int:
            body = {"model": "slow", "messages": MESSAGES, "max_tokens": 10}
            r = await http.post(url, json=body, headers={"authorization": f"Bearer {MASTER_KEY}"})
            return r.status_code

        return list(await asyncio.gather(*(one() for _ in range(n))))


def test_near_a_cap_requests_wait_for_other_holds_instead_of_being_refused(fake: FakeOpenAI) -> None:
    # each call holds its prompt + 10 output tokens and settles to less (the fake's usage): 30 at once in front of a
    # slow upstream, against a cap that only a third of them fit by their holds
    held = tokens.count_chat(MESSAGES, "slow") + 10
    limit = 10 * held
    budgets = f"  - {{name: tokens, scope: global, window: day, limit_tokens: {limit}}}"
    with gateway(fake, budgets) as gw:
        statuses = asyncio.run(_fire(gw.url + "/chat/completions", 30))
        admitted = statuses.count(200)
        assert set(statuses) <= {200, 429}
        assert gw.worker.limits is not None
        gw.run(gw.worker.limits.drain())
        spent = int(gw.run(budget_states(gw.worker.limits))[0]["spent"])
        assert spent <= limit  # the hard cap holds
        assert spent > limit - held  # refused only once the spend itself left no room for one more hold
        assert admitted > 10  # more than the holds alone would have let in


def test_with_hold_wait_off_requests_blocked_by_holds_are_refused_at_once(fake: FakeOpenAI) -> None:
    prompt = tokens.count_chat(MESSAGES, "slow")
    held = prompt + 10
    budgets = f"  - {{name: tokens, scope: global, window: day, limit_tokens: {10 * held}}}"
    with gateway(fake, budgets, "limits: {hold_wait_s: 0}") as gw:
        statuses = asyncio.run(_fire(gw.url + "/chat/completions", 30))
        assert 0 < statuses.count(200) <= 10 and gw.worker.limits is not None
        gw.run(gw.worker.limits.drain())
        spent = int(gw.run(budget_states(gw.worker.limits))[0]["spent"])
        assert spent < 10 * held - held  # refused while the spend itself still had room: what the wait is for
