"""The end user a request names (OpenAI `user`, Anthropic `metadata.user_id`): cache scope, limits, canary slice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.support import RunningGateway, gateway_from_yaml
from wardgate.cache.keys import tenant_of
from wardgate.core.call import END_USER_MAX, Call, end_user_of
from wardgate.core.principal import Principal
from wardgate.limits.backend import RateHold
from wardgate.limits.memory import MemoryLimits
from wardgate.limits.rules import scope_value
from wardgate.routing.route import sticky_id


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  gpt:
    deployments: [{{provider: up, model: gpt-4o-mini}}]
    cache: {{scope: end_user}}
  split:
    deployments: [{{provider: up, model: gpt-4o-mini}}]
    canary: {{deployment: {{provider: up, model: gpt-4o}}, percent: 50}}
"""
    with gateway_from_yaml(config) as gw:
        yield gw


def make_key(gateway: RunningGateway) -> str:
    async def make() -> str:
        project = await gateway.worker.tenancy.create_project(f"app-{uuid.uuid4().hex[:8]}")
        secret, _ = await gateway.worker.keys.create(project.id)
        return secret

    return gateway.run(make())


@pytest.fixture(scope="module")
def key(gateway: RunningGateway) -> str:
    return make_key(gateway)


def post(gateway: RunningGateway, key: str, body: dict[str, Any], path: str = "/chat/completions") -> httpx.Response:
    with httpx.Client() as http:
        return http.post(gateway.url + path, json=body, headers={"authorization": f"Bearer {key}"})


def upstream_calls(fake: FakeOpenAI, marker: str) -> int:
    return sum(1 for r in fake.requests if marker.encode() in r.body)


def test_cache_scope_end_user_never_shares_an_answer_between_end_users_of_one_key(
    gateway: RunningGateway, key: str, fake: FakeOpenAI
) -> None:
    marker = uuid.uuid4().hex
    body = {"model": "gpt", "messages": [{"role": "user", "content": marker}], "temperature": 0}
    assert post(gateway, key, {**body, "user": "alice"}).headers["x-wardgate-cache"] == "miss"
    assert post(gateway, key, {**body, "user": "alice"}).headers["x-wardgate-cache"] == "hit"
    assert post(gateway, key, {**body, "user": "bob"}).headers["x-wardgate-cache"] == "miss"
    assert post(gateway, key, body).headers["x-wardgate-cache"] == "miss"  # no `user`: the key's own scope
    assert post(gateway, key, body).headers["x-wardgate-cache"] == "hit"
    assert upstream_calls(fake, marker) == 3


def test_the_anthropic_metadata_user_id_is_the_end_user_too(gateway: RunningGateway, key: str) -> None:
    marker = uuid.uuid4().hex
    body = {"model": "gpt", "max_tokens": 20, "messages": [{"role": "user", "content": marker}], "temperature": 0}
    carol = {**body, "metadata": {"user_id": "carol"}}
    assert post(gateway, key, carol, "/messages").headers["x-wardgate-cache"] == "miss"
    assert post(gateway, key, carol, "/messages").headers["x-wardgate-cache"] == "hit"
    dave = {**body, "metadata": {"user_id": "dave"}}
    assert post(gateway, key, dave, "/messages").headers["x-wardgate-cache"] == "miss"


def test_a_rate_limit_with_scope_end_user_counts_each_end_user_apart(fake: FakeOpenAI) -> None:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  limited: [{{provider: up, model: gpt-4o-mini}}]
rate_limits:
  - {{name: per-end-user, scope: end_user, rpm: 1}}
"""
    with gateway_from_yaml(config) as gateway:
        key = make_key(gateway)
        assert_one_call_per_end_user(gateway, key)


def assert_one_call_per_end_user(gateway: RunningGateway, key: str) -> None:
    body = {"model": "limited", "messages": [{"role": "user", "content": "hi"}]}
    erin, frank = f"erin-{uuid.uuid4().hex}", f"frank-{uuid.uuid4().hex}"
    assert post(gateway, key, {**body, "user": erin}).status_code == 200
    refused = post(gateway, key, {**body, "user": erin})
    assert refused.status_code == 429 and "per-end-user" in refused.json()["error"]["message"]
    assert post(gateway, key, {**body, "user": frank}).status_code == 200
    # leaving `user` out does not escape the limit: calls without one share one counter per key
    assert post(gateway, key, body).status_code == 200
    assert post(gateway, key, body).status_code == 429


def test_the_canary_slice_sticks_to_the_end_user_when_one_key_serves_many(gateway: RunningGateway, key: str) -> None:
    body = {"model": "split", "messages": [{"role": "user", "content": "hi"}]}

    def arm(user: str) -> str:
        route = post(gateway, key, {**body, "user": user}).headers["x-wardgate-route"]
        return "canary" if "arm=canary" in route else "baseline"

    users = [f"user-{i}" for i in range(16)]
    first = [arm(u) for u in users]
    assert [arm(u) for u in users] == first  # sticky
    assert set(first) == {"canary", "baseline"}  # one key, yet its end users fall on both sides


def call_with(user: str | None, principal: Principal) -> Call:
    call = Call("r", "openai", "chat", "m", {"model": "m", "messages": []}, False, None, 0.0)
    call.end_user = user
    call.principal = principal
    return call


def test_an_end_user_id_is_bounded_and_never_widens_sharing_past_the_key() -> None:
    assert end_user_of(None) is None and end_user_of("") is None and end_user_of(42) is None
    assert end_user_of("alice") == "alice"
    long_one, other = "x" * 10_000, "x" * 9_999 + "y"
    assert len(end_user_of(long_one) or "") <= END_USER_MAX
    assert end_user_of(long_one) != end_user_of(other)
    one, two = Principal("key", "k1", project="p1"), Principal("key", "k2", project="p1")
    assert tenant_of(one, "end_user", "alice") != tenant_of(two, "end_user", "alice")
    assert tenant_of(one, "end_user", "alice") != tenant_of(one, "end_user", "bob")
    assert tenant_of(one, "end_user", None) == tenant_of(one, "key")
    assert "alice" not in tenant_of(one, "end_user", "alice")  # hashed into keys
    assert sticky_id(call_with("alice", one), "key") == sticky_id(call_with("bob", one), "key")
    assert sticky_id(call_with("alice", one), "user") != sticky_id(call_with("bob", one), "user")
    counter, raw = scope_value("end_user", call_with("alice", one), {})
    assert raw == "alice" and "alice" not in counter and len(counter) < 100
    assert scope_value("end_user", call_with("alice", one), {}) == scope_value("end_user", call_with("alice", two), {})


def test_a_budget_with_scope_end_user_caps_each_end_user_and_keeps_no_state_per_id(fake: FakeOpenAI) -> None:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  small: [{{provider: up, model: gpt-4o-mini, price: {{input: 1, output: 1}}}}]
budgets:
  - {{name: per-end-user, scope: end_user, window: day, limit_tokens: 20}}
"""
    body = {"model": "small", "messages": [{"role": "user", "content": "hello budget"}], "max_tokens": 10}
    # each call reserves 5 prompt + 10 output tokens and settles to 5 + 2 (tests/limits/test_stage_e2e.py)
    with gateway_from_yaml(config) as gateway:
        key = make_key(gateway)
        assert post(gateway, key, {**body, "user": "gina"}).status_code == 200
        refused = post(gateway, key, {**body, "user": "gina"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
        for i in range(20):  # every new id has its own budget, and none leaves state behind in the worker
            assert post(gateway, key, {**body, "user": f"visitor-{i}"}).status_code == 200
        assert gateway.worker.limits is not None and not gateway.worker.limits.seen_keys


async def test_idle_rate_counters_of_many_end_users_do_not_accumulate_in_memory() -> None:
    limits = MemoryLimits()
    clock = [1000.0]
    limits._now = lambda: clock[0]  # type: ignore[method-assign]
    for i in range(10_050):  # one counter per end user, as a client choosing ids at will would make
        rate = RateHold(f"r:per-end-user:p/e:{i}", rpm=5, tpm=None, concurrent=None, tokens=1)
        assert (await limits.reserve(f"req-{i}", [], [rate], 60)).admitted
    clock[0] += 61  # a whole window later those counters hold nothing
    rate = RateHold("r:per-end-user:p/e:new", rpm=5, tpm=None, concurrent=None, tokens=1)
    assert (await limits.reserve("req-new", [], [rate], 60)).admitted
    assert len(limits._rates) == 1
