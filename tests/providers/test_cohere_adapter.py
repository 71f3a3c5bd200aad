"""The Cohere adapter on its own, over a real aiohttp session to the fake: what it records on the Call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from time import perf_counter
from typing import Any

import pytest

from tests.fakes.cohere import FakeCohere
from wardgate.core.call import Call, Chunk
from wardgate.core.deployment import Deployment
from wardgate.core.errors import UpstreamRateLimited
from wardgate.core.usage import Usage
from wardgate.providers.cohere.adapter import CohereAdapter
from wardgate.providers.http import UpstreamHTTP, new_session

KEY = "co-adapter-key-0123456789"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeCohere]:
    with FakeCohere(KEY, template_tokens=11, cached_tokens=2, send_done=False).start() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeCohere) -> FakeCohere:
    server.reset()
    return server


@pytest.fixture
async def adapter(fake: FakeCohere) -> AsyncIterator[CohereAdapter]:
    http = UpstreamHTTP(new_session())
    try:
        yield CohereAdapter("co", http, base_url=fake.url, api_key=KEY)
    finally:
        await http.session.close()


def make_call(adapter: CohereAdapter, body: dict[str, Any], model: str = "command-a-03-2025") -> Call:
    call = Call("req-1", "openai", "chat", "chat", body, bool(body.get("stream")), None, perf_counter())
    call.deployment = Deployment(name=f"co/{model}", provider="co", upstream_model=model, adapter=adapter)
    return call


async def collect(stream: AsyncIterator[list[Chunk]]) -> list[Chunk]:
    return [chunk async for batch in stream for chunk in batch]


def expected_usage(fake: FakeCohere) -> Usage:
    sent = fake.usages[-1]
    return Usage(sent["tokens"]["input_tokens"], sent["tokens"]["output_tokens"], cached_tokens=sent["cached_tokens"])


async def test_a_plain_answer_sets_usage_and_upstream_time(adapter: CohereAdapter, fake: FakeCohere) -> None:
    call = make_call(adapter, {"model": "chat", "messages": [{"role": "user", "content": "a b c"}]})
    result = await adapter.send(call)
    assert result.body["choices"][0]["message"]["content"] == "echo: a b c"
    assert call.usage == expected_usage(fake) == Usage(14, 4, cached_tokens=2)
    assert call.upstream_s > 0


async def test_a_stream_sets_usage_even_when_the_client_did_not_ask_for_it(
    adapter: CohereAdapter, fake: FakeCohere
) -> None:
    call = make_call(adapter, {"model": "chat", "messages": [{"role": "user", "content": "x y"}], "stream": True})
    chunks = await collect(await adapter.open_stream(call))
    assert call.upstream_s > 0
    assert call.first_token_at is not None
    assert call.usage == expected_usage(fake)
    assert all(c.usage is None and "usage" not in c.data for c in chunks)
    assert "".join(c.data["choices"][0]["delta"].get("content") or "" for c in chunks) == "echo: x y"


async def test_the_usage_chunk_carries_the_usage_for_accounting(adapter: CohereAdapter, fake: FakeCohere) -> None:
    body = {
        "model": "chat",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    call = make_call(adapter, body)
    chunks = await collect(await adapter.open_stream(call))
    assert chunks[-1].usage == call.usage == expected_usage(fake)


async def test_an_error_before_the_stream_is_raised_from_open_stream(adapter: CohereAdapter) -> None:
    call = make_call(
        adapter, {"model": "chat", "messages": [{"role": "user", "content": "x"}], "stream": True}, model="error-429"
    )
    with pytest.raises(UpstreamRateLimited) as caught:
        await adapter.open_stream(call)
    assert caught.value.headers == {"retry-after": "7"}


def test_it_serves_chat_and_embeddings_only(adapter: CohereAdapter) -> None:
    assert adapter.supports("chat") and adapter.supports("embeddings")
    assert not adapter.supports("completions")
