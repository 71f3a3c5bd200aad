"""The one stream reader (``providers/streaming.py``), once for every adapter: each registered wire format is built
through the registry, in front of its fake, and streamed through the same assertions.

What the reader promises every adapter: a whole stream ends cleanly with the call's usage and first-token time set;
a connection reset mid-stream is raised as the mapped upstream error after the chunks that came before it; a
provider's error in the middle of a read reaches the client after the chunks in front of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import orjson
import pytest

from tests.fakes import bedrock as bedrock_fake
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.cohere import FakeCohere
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai import FakeOpenAI
from wardgate.core.call import Call, Chunk, ChunkStream
from wardgate.core.deployment import Adapter, Deployment
from wardgate.core.errors import UpstreamError, UpstreamUnavailable
from wardgate.providers import registry
from wardgate.providers.http import UpstreamHTTP, new_session
from wardgate.providers.presets import PRESETS

OPENAI_KEY = "sk-streaming-openai-upstream"
ANTHROPIC_KEY = "sk-ant-streaming-upstream"
GEMINI_KEY = "AIzaStreamingGeminiUpstreamKey000000000"
COHERE_KEY = "co-streaming-upstream-0123456789"


@dataclass(frozen=True, slots=True)
class Fakes:
    openai: FakeOpenAI
    anthropic: FakeAnthropic
    gemini: FakeGemini
    bedrock: FakeBedrock
    cohere: FakeCohere
    key_file: Path


@dataclass(frozen=True, slots=True)
class Case:
    """One wire format: its config, the upstream model of a normal answer, and how to make the next stream reset."""

    type: str
    config: dict[str, Any]
    model: str
    reset: Callable[[], str]  # scripts a reset of the next stream; returns the upstream model to ask for


def cases(f: Fakes) -> dict[str, Case]:
    def by_model() -> str:
        return "reset-stream"

    def bedrock_reset() -> str:
        f.bedrock.reset_next_stream(after=3)
        return "anthropic.claude-3-5-sonnet-20240620-v1:0"

    return {
        c.type: c
        for c in (
            Case("openai", {"base_url": f.openai.url, "api_key": OPENAI_KEY}, "gpt-4o-mini", by_model),
            Case("azure", {"base_url": f.openai.root_url, "api_key": OPENAI_KEY}, "my-gpt-4o-mini", by_model),
            Case("anthropic", {"base_url": f.anthropic.url, "api_key": ANTHROPIC_KEY}, "claude-sonnet-4-5", by_model),
            Case("gemini", {"base_url": f.gemini.url, "api_key": GEMINI_KEY}, "gemini-2.5-flash", by_model),
            Case(
                "vertex",
                {"project": "fake-project", "credentials_file": str(f.key_file), "base_url": f.gemini.vertex_url},
                "gemini-2.5-flash",
                by_model,
            ),
            Case(
                "bedrock",
                {
                    "region": bedrock_fake.REGION,
                    "access_key_id": bedrock_fake.ACCESS_KEY_ID,
                    "secret_access_key": bedrock_fake.SECRET_ACCESS_KEY,
                    "base_url": f.bedrock.url,
                },
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                bedrock_reset,
            ),
            Case("cohere", {"base_url": f.cohere.url, "api_key": COHERE_KEY}, "command-a-03-2025", by_model),
        )
    }


def wire_formats() -> list[str]:
    """Every registered type but the OpenAI-compatible presets (the openai row's wire format) and the local mock."""
    return sorted(set(registry.provider_types()) - (set(PRESETS) - {"openai"}) - {"mock"})


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fakes]:
    with (
        FakeOpenAI(OPENAI_KEY) as openai_up,
        FakeAnthropic(ANTHROPIC_KEY) as anthropic_up,
        FakeGemini(GEMINI_KEY) as gemini_up,
        FakeBedrock() as bedrock_up,
        FakeCohere(COHERE_KEY) as cohere_up,
    ):
        key_file = gemini_up.write_service_account(tmp_path_factory.mktemp("vertex") / "sa.json")
        yield Fakes(openai_up, anthropic_up, gemini_up, bedrock_up, cohere_up, key_file)


@pytest.fixture(params=wire_formats())
async def adapter(request: pytest.FixtureRequest, fakes: Fakes) -> AsyncIterator[tuple[Adapter, Case]]:
    for fake in (fakes.openai, fakes.anthropic, fakes.gemini, fakes.bedrock, fakes.cohere):
        fake.reset()
    case = cases(fakes)[request.param]
    ptype = registry.get(case.type)
    assert ptype is not None
    http = UpstreamHTTP(new_session())
    try:
        yield ptype.factory(case.type, ptype.config.model_validate({"type": case.type, **case.config}), http), case
    finally:
        await http.session.close()


def stream_call(adapter: Adapter, model: str) -> Call:
    body = {"model": "m", "messages": [{"role": "user", "content": "one two three four five six"}], "stream": True}
    call = Call(
        id="req-stream",
        surface="openai",
        operation="chat",
        model="m",
        body=body,
        stream=True,
        credential=None,
        started=perf_counter(),
    )
    call.deployment = Deployment(
        name=f"{adapter.name}/{model}", provider=adapter.name, upstream_model=model, adapter=adapter
    )
    return call


async def drain(stream: ChunkStream, into: list[Chunk]) -> None:
    async for batch in stream:
        into.extend(batch)


def text_of(chunks: list[Chunk]) -> str:
    out = []
    for chunk in chunks:
        data = chunk.data if chunk.raw is None else orjson.loads(chunk.raw)
        for choice in data.get("choices") or []:
            out.append(choice["delta"].get("content") or "")
    return "".join(out)


async def test_a_whole_stream_ends_cleanly_with_its_usage_and_first_token_time(
    adapter: tuple[Adapter, Case],
) -> None:
    provider, case = adapter
    call = stream_call(provider, case.model)
    chunks: list[Chunk] = []
    await drain(await provider.open_stream(call), chunks)
    assert "one two three four five six" in text_of(chunks)
    assert call.usage is not None and call.usage.input_tokens > 0 and call.usage.output_tokens > 0
    assert call.first_token_at is not None and call.first_token_at >= call.started
    assert call.upstream_s > 0


async def test_a_reset_mid_stream_raises_the_mapped_upstream_error_after_what_came_before(
    adapter: tuple[Adapter, Case],
) -> None:
    provider, case = adapter
    call = stream_call(provider, case.reset())
    chunks: list[Chunk] = []
    with pytest.raises(UpstreamUnavailable) as caught:
        await drain(await provider.open_stream(call), chunks)
    assert caught.value.message.startswith(f"{case.type}: ")
    assert chunks, "the chunks sent before the reset reach the client"
    assert call.first_token_at is not None


async def test_an_error_after_chunks_in_the_same_read_comes_after_them(fakes: Fakes) -> None:
    """One read holding two content events and an error event: the client gets both, then the error."""
    piece = '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":'
    body = (
        f'data: {piece}{{"content":"Hel"}},"finish_reason":null}}]}}\n\n'
        f'data: {piece}{{"content":"lo"}},"finish_reason":null}}]}}\n\n'
        'data: {"error":{"message":"the model crashed","type":"server_error","param":null,"code":"boom"}}\n\n'
    )
    fakes.openai.reset()
    fakes.openai.enqueue(200, body.encode(), {"content-type": "text/event-stream"})
    ptype = registry.get("openai")
    assert ptype is not None
    http = UpstreamHTTP(new_session())
    try:
        provider = ptype.factory(
            "openai", ptype.config.model_validate({"type": "openai", **cases(fakes)["openai"].config}), http
        )
        stream = await provider.open_stream(stream_call(provider, "gpt-4o-mini"))
        batches: list[list[Chunk]] = []
        with pytest.raises(UpstreamError, match="the model crashed") as caught:
            async for batch in stream:
                batches.append(batch)
    finally:
        await http.session.close()
    assert [text_of(batch) for batch in batches] == ["Hello"]  # one read, one batch, before the error
    assert caught.value.code == "boom"
