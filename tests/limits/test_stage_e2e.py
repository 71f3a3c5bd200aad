"""Budgets and rate limits through a real gateway in front of the OpenAI fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

MESSAGES: list[Any] = [{"role": "user", "content": "hello budget"}]
# every call: prompt 5 tokens, output bound by max_tokens 10 → reservation of 5 + 10 tokens


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as f:
        yield f


def gateway(fake: FakeOpenAI, limits: str) -> RunningGateway:
    return gateway_from_yaml(f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  big:   [{{provider: up, model: gpt-4o, price: {{input: 1000, output: 1000}}}}]
  small: [{{provider: up, model: gpt-4o-mini, price: {{input: 1, output: 1}}}}]
{limits}
""")


def client(gw: RunningGateway, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url, api_key=key, max_retries=0)


def make_key(gw: RunningGateway, project: str) -> str:
    async def make() -> str:
        p = await gw.worker.tenancy.create_project(project)
        secret, _ = await gw.worker.keys.create(p.id)
        return secret

    return gw.run(make())


def test_a_hard_token_budget_refuses_with_the_budget_named(fake: FakeOpenAI) -> None:
    limits = """
budgets:
  - {name: tiny, scope: project, match: acme, window: day, limit_tokens: 40, cap: hard}
"""
    with gateway(fake, limits) as gw, client(gw, make_key(gw, "acme")) as c:
        for _ in range(2):  # each reserves 5 + 10 = 15, settles to 5 + 2 = 7 tokens
            c.chat.completions.create(model="small", messages=MESSAGES, max_tokens=10)
        c.chat.completions.create(model="small", messages=MESSAGES, max_tokens=10)  # 21 + 15 ≤ 40
        with pytest.raises(openai.RateLimitError) as caught:
            c.chat.completions.create(model="small", messages=MESSAGES, max_tokens=30)  # 21 + 35 > 40
        error = caught.value.response.json()["error"]
        assert error["code"] == "budget_exceeded" and error["type"] == "insufficient_quota"
        assert "Budget 'tiny'" in error["message"] and "resets at" in error["message"]
        assert caught.value.response.headers["x-wardgate-budget"] == "tiny"
        # the master key is not in project acme: the budget does not apply to it
        with client(gw) as master:
            master.chat.completions.create(model="small", messages=MESSAGES, max_tokens=30)


def test_soft_caps_warn_in_a_header_and_fire_once_per_crossing(fake: FakeOpenAI) -> None:
    limits = """
budgets:
  - {name: soft, scope: global, window: month, limit_tokens: 100, cap: soft, warn_at: [0.5, 0.7]}
"""
    with gateway(fake, limits) as gw, client(gw) as c:
        headers = []
        for _ in range(10):  # each settles to 5 prompt + 3 completion tokens
            raw = c.chat.completions.with_raw_response.create(model="small", messages=MESSAGES, max_tokens=10)
            headers.append(raw.headers.get("x-wardgate-budget-warning"))
        assert headers[0] is None and headers[-1] is not None and headers[-1].startswith("soft: ")
        gw.run(gw.worker.audit.flush())
        crossings = gw.run(_audit_actions(gw))
        assert crossings.count("budget.threshold_crossed") == 2  # 50 % once, 70 % once


async def _audit_actions(gw: RunningGateway) -> list[str]:
    from sqlalchemy import select

    from wardgate.store.tables import audit_log

    async with gw.worker.engine.connect() as conn:
        return [r[0] for r in await conn.execute(select(audit_log.c.action))]


def test_a_tipped_budget_falls_back_to_the_cheaper_model(fake: FakeOpenAI) -> None:
    limits = """
budgets:
  - {name: big-spend, scope: model, match: big, window: day, limit_usd: 0.02, on_exceed: fallback, fallback: [small]}
"""
    with gateway(fake, limits) as gw, client(gw) as c:
        first = c.chat.completions.with_raw_response.create(model="big", messages=MESSAGES, max_tokens=5)
        assert first.headers["x-wardgate-deployment"] == "up/gpt-4o"  # 10 tokens × $1000/M = $0.01
        second = c.chat.completions.with_raw_response.create(model="big", messages=MESSAGES, max_tokens=20)
        assert second.headers["x-wardgate-deployment"] == "up/gpt-4o-mini"
        assert second.headers["x-wardgate-budget-fallback"] == "big->small"


def test_rpm_limits_send_openai_style_headers_and_429(fake: FakeOpenAI) -> None:
    limits = """
rate_limits:
  - {name: per-key, scope: key, rpm: 3, tpm: 1000}
"""
    with gateway(fake, limits) as gw, client(gw, make_key(gw, "rl")) as c:
        raw = c.chat.completions.with_raw_response.create(model="small", messages=MESSAGES, max_tokens=5)
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-remaining-requests"] == "2"
        assert raw.headers["x-ratelimit-limit-tokens"] == "1000"
        c.chat.completions.create(model="small", messages=MESSAGES, max_tokens=5)
        c.chat.completions.create(model="small", messages=MESSAGES, max_tokens=5)
        with pytest.raises(openai.RateLimitError) as caught:
            c.chat.completions.create(model="small", messages=MESSAGES, max_tokens=5)
        assert int(caught.value.response.headers["retry-after"]) >= 1
        assert caught.value.response.json()["error"]["code"] == "rate_limit_exceeded"


def test_a_stream_is_cut_cleanly_at_the_reserved_output(fake: FakeOpenAI) -> None:
    # no max_tokens: the output bound is the configured estimate (2 tokens) — the stream may not run past it
    long_prompt = [{"role": "user", "content": " ".join(["word"] * 40)}]
    limits = """
limits: {output_estimate_tokens: 2}
budgets:
  - {name: cap, scope: global, window: day, limit_tokens: 100000, cap: hard}
"""
    with gateway(fake, limits) as gw, client(gw) as c:
        chunks = list(c.chat.completions.create(model="small", messages=long_prompt, stream=True))
        finals = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason]
        assert finals[-1].choices[0].finish_reason == "length"
        assert (finals[-1].model_extra or {}).get("wardgate", {}).get("stopped")
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        assert len(text) <= 2 * 4 + len(" word") * 2


def test_clamping_lowers_max_tokens_to_what_the_budget_affords(fake: FakeOpenAI) -> None:
    limits = """
limits: {clamp_max_tokens: true}
budgets:
  - {name: clamp, scope: global, window: day, limit_tokens: 30, cap: hard}
"""
    with gateway(fake, limits) as gw, client(gw) as c:
        raw = c.chat.completions.with_raw_response.create(model="small", messages=MESSAGES, max_tokens=100)
        clamped = int(raw.headers["x-wardgate-max-tokens-clamped"])
        assert 0 < clamped < 100
        assert fake.requests[-1].json["max_tokens"] == clamped


def test_budget_state_is_visible_as_prometheus_gauges(fake: FakeOpenAI) -> None:
    import httpx

    from wardgate.limits.state import budget_states

    limits = """
budgets:
  - {name: visible, scope: global, window: month, limit_usd: 5, cap: hard}
"""
    with gateway(fake, limits) as gw, client(gw) as c:
        c.chat.completions.create(model="small", messages=MESSAGES, max_tokens=5)
        assert gw.worker.limits is not None
        [state] = gw.run(budget_states(gw.worker.limits, "visible"))
        assert state["spent"] == "0.000008000"  # 8 tokens at $1/M
        assert state["reserved"] == "0.000000000" and state["remaining"] == "4.999992000"
        assert state["resets_at"].endswith("T00:00:00Z")
        text = httpx.get(gw.root + "/metrics").text
        assert (
            'wardgate_budget_spent{budget="visible",cap="hard",scope="global",scope_value="*",unit="usd"} 8e-06' in text
        )


def test_a_tipped_budget_answers_from_the_cache_or_refuses(fake: FakeOpenAI) -> None:
    limits = """
cache: {default: {ttl_s: 300}}
budgets:
  - {name: tip, scope: global, window: day, limit_tokens: 20, cap: hard, on_exceed: cache}
"""
    with gateway(fake, limits) as gw, client(gw) as c:
        first = c.chat.completions.with_raw_response.create(model="small", messages=MESSAGES, max_tokens=5)
        assert first.headers["x-wardgate-cache"] == "miss"  # 8 tokens spent of 20
        upstream_calls = len(fake.requests)
        again = c.chat.completions.with_raw_response.create(model="small", messages=MESSAGES, max_tokens=5)
        assert again.headers["x-wardgate-cache"] == "hit" and again.headers["x-wardgate-budget"] == "tip"
        assert len(fake.requests) == upstream_calls  # answered without the provider
        with pytest.raises(openai.RateLimitError) as caught:
            c.chat.completions.create(model="small", messages=[{"role": "user", "content": "new"}], max_tokens=5)
        assert caught.value.response.json()["error"]["code"] == "budget_exceeded"


def test_embedded_counters_are_rebuilt_from_the_ledger_after_a_restart(fake: FakeOpenAI, tmp_path: Any) -> None:
    from wardgate.limits.state import budget_states

    config = f"""
store: sqlite:///{tmp_path}/wardgate.db
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  small: [{{provider: up, model: gpt-4o-mini, price: {{input: 1, output: 1}}}}]
budgets:
  - {{name: durable, scope: global, window: month, limit_tokens: 1000}}
"""
    with gateway_from_yaml(config) as gw, client(gw) as c:
        for _ in range(3):
            c.chat.completions.create(model="small", messages=MESSAGES, max_tokens=5)
        gw.run(gw.worker.ledger.flush())
    with gateway_from_yaml(config) as again:
        assert again.worker.limits is not None
        [state] = again.run(budget_states(again.worker.limits, "durable"))
        assert state["spent"] == 3 * 8  # what the first process spent, read back from the ledger
