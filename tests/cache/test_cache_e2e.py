"""The exact cache on one gateway (in-process tier, no Redis): what is stored, what is served, what is bypassed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.cache import cache_stats, invalidate
from wardgate.store.usage import by_request_id

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


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
    cache: {{ttl_s: 600}}
  hot:
    deployments: [{{provider: up, model: gpt-4o-mini}}]
    cache: {{cache_nondeterministic: true}}
  instruct:
    deployments: [{{provider: up, model: gpt-3.5-turbo-instruct}}]
    cache: {{}}
  emb:
    deployments: [{{provider: up, model: text-embedding-3-small}}]
    cache: {{}}
  plain: [{{provider: up, model: gpt-4o-mini}}]
cache:
  max_ttl_s: 900
"""
    with gateway_from_yaml(config) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def prompt() -> list[Any]:
    return [{"role": "user", "content": f"tell me about {uuid.uuid4().hex}"}]


def upstream_calls(fake: FakeOpenAI, marker: str) -> int:
    return sum(1 for r in fake.requests if marker.encode() in r.body)


def chat(
    gateway: RunningGateway,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    path: str = "/chat/completions",
) -> httpx.Response:
    with httpx.Client() as http:
        return http.post(gateway.url + path, json=body, headers={**AUTH, **(headers or {})})


def test_a_repeated_request_is_served_from_the_cache_with_the_same_answer(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    messages = prompt()
    first = chat(gateway, {"model": "gpt", "messages": messages})
    second = chat(gateway, {"model": "gpt", "messages": messages})
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["x-wardgate-cache"], second.headers["x-wardgate-cache"]) == ("miss", "hit")
    assert second.json() == first.json()
    assert upstream_calls(fake, messages[0]["content"]) == 1


def test_fields_that_do_not_change_the_answer_share_an_entry_and_the_others_do_not(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    messages = prompt()
    chat(gateway, {"model": "gpt", "messages": messages})
    assert chat(gateway, {"model": "gpt", "messages": messages, "user": "u-1"}).headers["x-wardgate-cache"] == "hit"
    assert chat(gateway, {"model": "gpt", "messages": messages, "max_tokens": 2}).headers["x-wardgate-cache"] == "miss"
    assert chat(gateway, {"model": "gpt", "messages": messages, "seed": 7}).headers["x-wardgate-cache"] == "miss"
    assert upstream_calls(fake, messages[0]["content"]) == 3


def test_a_streamed_miss_is_stored_and_replayed_as_a_stream_and_as_json(
    client: openai.OpenAI, gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    messages = prompt()
    raw = client.chat.completions.with_raw_response.create(model="gpt", messages=messages, stream=True)
    assert raw.headers["x-wardgate-cache"] == "miss"
    first = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["x-wardgate-cache"] == "hit"
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == first
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert chunks[-2].choices[0].finish_reason == "stop"
    answer = client.chat.completions.with_raw_response.create(model="gpt", messages=messages)
    assert answer.headers["x-wardgate-cache"] == "hit"
    assert answer.parse().choices[0].message.content == first
    assert upstream_calls(fake, messages[0]["content"]) == 1


def test_tool_calls_survive_the_stream_assembly(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    tools: Any = [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
    ]
    messages = prompt()
    streamed = list(
        client.chat.completions.create(model="gpt", messages=messages, tools=tools, tool_choice="required", stream=True)
    )
    assert any(c.choices and c.choices[0].delta.tool_calls for c in streamed)
    cached = client.chat.completions.create(model="gpt", messages=messages, tools=tools, tool_choice="required")
    call = cached.choices[0].message.tool_calls
    assert call is not None and call[0].function.name == "get_weather"
    assert cached.choices[0].finish_reason == "tool_calls"
    assert upstream_calls(fake, messages[0]["content"]) == 1


def test_completions_and_embeddings_are_cached_too(
    client: openai.OpenAI, gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    text = f"once upon a time {uuid.uuid4().hex}"
    first = client.completions.with_raw_response.create(model="instruct", prompt=text)
    second = client.completions.with_raw_response.create(model="instruct", prompt=text)
    assert (first.headers["x-wardgate-cache"], second.headers["x-wardgate-cache"]) == ("miss", "hit")
    streamed = "".join(c.choices[0].text for c in client.completions.create(model="instruct", prompt=text, stream=True))
    assert streamed == first.parse().choices[0].text
    vectors = [client.embeddings.with_raw_response.create(model="emb", input=[text, "two"]) for _ in range(2)]
    assert [v.headers["x-wardgate-cache"] for v in vectors] == ["miss", "hit"]
    assert vectors[0].parse().data[1].embedding == vectors[1].parse().data[1].embedding
    assert upstream_calls(fake, text) == 2


def test_non_deterministic_requests_are_bypassed_unless_the_model_allows_them(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    messages = prompt()
    for _ in range(2):
        response = chat(gateway, {"model": "gpt", "messages": messages, "temperature": 0.7})
        assert response.headers["x-wardgate-cache"] == "bypass"
    assert chat(gateway, {"model": "gpt", "messages": messages, "n": 2}).headers["x-wardgate-cache"] == "bypass"
    zero = {"model": "gpt", "messages": messages, "n": 2, "temperature": 0}
    assert [chat(gateway, zero).headers["x-wardgate-cache"] for _ in range(2)] == ["miss", "hit"]
    hot = {"model": "hot", "messages": messages, "temperature": 0.7}
    assert [chat(gateway, hot).headers["x-wardgate-cache"] for _ in range(2)] == ["miss", "hit"]
    assert upstream_calls(fake, messages[0]["content"]) == 5


def test_a_model_without_cache_config_is_untouched(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    messages = prompt()
    responses = [chat(gateway, {"model": "plain", "messages": messages}) for _ in range(2)]
    assert all("x-wardgate-cache" not in r.headers for r in responses)
    assert upstream_calls(fake, messages[0]["content"]) == 2


def test_request_directives_no_cache_no_store_and_only_if_cached(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    messages = prompt()
    body = {"model": "gpt", "messages": messages}
    only = {"x-wardgate-cache": "only-if-cached"}
    missing = chat(gateway, body, only)
    assert missing.status_code == 504 and missing.json()["error"]["code"] == "cache_miss"
    assert chat(gateway, body, {"x-wardgate-cache": "no-store"}).headers["x-wardgate-cache"] == "bypass"
    assert chat(gateway, body, only).status_code == 504  # no-store stored nothing
    assert chat(gateway, body).headers["x-wardgate-cache"] == "miss"
    assert chat(gateway, body, only).headers["x-wardgate-cache"] == "hit"
    assert chat(gateway, body, {"x-wardgate-cache": "No-Cache"}).headers["x-wardgate-cache"] == "miss"
    assert upstream_calls(fake, messages[0]["content"]) == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [("x-wardgate-cache", "sometimes"), ("x-wardgate-cache-ttl", "-5"), ("x-wardgate-cache-ttl", "x")],
)
def test_a_bad_cache_header_is_a_400_naming_it(gateway: RunningGateway, name: str, value: str) -> None:
    response = chat(gateway, {"model": "gpt", "messages": prompt()}, {name: value})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == name


def test_a_ttl_override_is_capped_at_max_ttl(gateway: RunningGateway) -> None:
    from wardgate.cache.stage import parse_ttl

    assert parse_ttl("30", 600, 900) == 30
    assert parse_ttl("100000", 600, 900) == 900
    messages = prompt()
    before = len(gateway.worker.cache.local)
    chat(gateway, {"model": "gpt", "messages": messages}, {"x-wardgate-cache-ttl": "100000"})
    assert len(gateway.worker.cache.local) == before + 1


def test_invalidation_by_model_template_and_all(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    messages = prompt()
    body = {"model": "gpt", "messages": messages}
    tagged = {"x-wardgate-prompt-template": "faq@3"}
    chat(gateway, body)
    chat(gateway, body, tagged)
    assert chat(gateway, body, tagged).headers["x-wardgate-cache"] == "hit"
    gateway.run(invalidate(gateway.worker.cache, "template", "faq@3"))
    assert chat(gateway, body, tagged).headers["x-wardgate-cache"] == "miss"
    assert chat(gateway, body).headers["x-wardgate-cache"] == "hit"  # untagged: another template's entry
    gateway.run(invalidate(gateway.worker.cache, "model", "gpt"))
    assert chat(gateway, body).headers["x-wardgate-cache"] == "miss"
    gateway.run(invalidate(gateway.worker.cache, "all"))
    assert chat(gateway, body).headers["x-wardgate-cache"] == "miss"
    assert chat(gateway, body).headers["x-wardgate-cache"] == "hit"
    assert upstream_calls(fake, messages[0]["content"]) == 5


def test_a_hit_still_writes_a_ledger_row_with_the_tokens_and_no_cost(gateway: RunningGateway) -> None:
    messages = prompt()
    miss = chat(gateway, {"model": "gpt", "messages": messages})
    hit = chat(gateway, {"model": "gpt", "messages": messages})
    gateway.run(gateway.worker.ledger.flush())
    rows = [gateway.run(by_request_id(gateway.worker.engine, r.headers["x-wardgate-request-id"])) for r in (miss, hit)]
    assert rows[0] is not None and rows[1] is not None
    assert rows[1]["input_tokens"] == rows[0]["input_tokens"] > 0
    assert rows[1]["output_tokens"] == rows[0]["output_tokens"] > 0
    assert rows[1]["cost_nanousd"] == 0 < rows[0]["cost_nanousd"]
    assert rows[1]["deployment"] is None


def test_the_ledger_row_of_a_hit_is_marked_as_one(gateway: RunningGateway) -> None:
    messages = prompt()
    responses = [chat(gateway, {"model": "gpt", "messages": messages}) for _ in range(2)]
    gateway.run(gateway.worker.ledger.flush())
    rows = [gateway.run(by_request_id(gateway.worker.engine, r.headers["x-wardgate-request-id"])) for r in responses]
    assert [row["cache_hit"] if row else None for row in rows] == [False, True]


def test_stats_count_hits_misses_and_savings_by_model(gateway: RunningGateway) -> None:
    def totals() -> dict[str, Any]:
        rows = gateway.run(cache_stats(gateway.worker.cache, ["model"]))
        return next(r for r in rows if r["model"] == "gpt")

    before = totals()
    messages = prompt()
    for _ in range(3):
        chat(gateway, {"model": "gpt", "messages": messages})
    after = totals()
    assert after["misses"] - before["misses"] == 1
    assert after["hits"] - before["hits"] == 2
    assert after["tokens_saved"] > before["tokens_saved"]
    assert after["cost_saved_nanousd"] > before["cost_saved_nanousd"]
    assert 0 < after["hit_rate"] < 1
