"""One gateway with one public model per provider type, each in front of its fake, for the cross-provider suite.

Every fake answers deterministically and documents its usage rules, so the usage it reported for its last answer is
known exactly: read from the fake where it keeps it (``usages``), recomputed with the fake's own pure functions from
the request it recorded where it does not. ``Upstream.reported()`` turns those numbers, in the provider's own
semantics, into ``Tokens``: our convention, where cache reads and writes count inside the prompt and reasoning inside
the completion. That conversion is the provider's documented meaning of its fields, written here independently of
the adapters, so a test comparing it with what a client sees checks the adapter's normalisation to the token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes import bedrock as bedrock_fake
from tests.fakes import gemini as gemini_fake
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.cohere import FakeCohere
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai import FakeOpenAI
from tests.fakes.openai_chat import chat_reply, chat_usage
from tests.fakes.openai_logic import count_prompt_tokens
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

OPENAI_KEY = "sk-contract-openai-upstream"
ANTHROPIC_KEY = "sk-ant-contract-upstream"
GEMINI_KEY = "AIzaContractGeminiUpstreamKey000000000"
COHERE_KEY = "co-contract-upstream-0123456789"
SIGNATURE = "Y29udHJhY3Qtc2lnbmF0dXJl"  # Gemini 3's thoughtSignature: a tool round trip must carry it back


@dataclass(frozen=True, slots=True)
class Tokens:
    """A usage in Wardgate's convention (``core/usage.py``)."""

    prompt: int
    completion: int
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0

    def openai(self) -> dict[str, int]:
        """What an OpenAI client must read: ``cache_write_tokens`` is Wardgate's extension, present when non-zero."""
        return {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
            "cached_tokens": self.cached,
            "cache_write_tokens": self.cache_write,
            "reasoning_tokens": self.reasoning,
        }

    def anthropic(self) -> dict[str, int]:
        """What an Anthropic client must read: cache reads and writes apart from ``input_tokens``."""
        return {
            "input_tokens": self.prompt - self.cached - self.cache_write,
            "cache_read_input_tokens": self.cached,
            "cache_creation_input_tokens": self.cache_write,
            "output_tokens": self.completion,
        }


@dataclass(frozen=True, slots=True)
class Upstream:
    """One provider type as the scripts see it: the public model in front of it and what its fake answers."""

    type: str
    model: str  # the public model name clients ask for
    reply_prefix: str  # a plain answer is this + the last user text
    tool_reply_prefix: str  # the answer after a tool result is this + the result's text
    tool_arguments: dict[str, Any]  # what the fake fills in for WEATHER's one required string
    reported: Callable[[], Tokens]  # the usage of the fake's last answer

    def says(self, text: str) -> str:
        return self.reply_prefix + text

    def says_after_tool(self, result: str) -> str:
        return self.tool_reply_prefix + result


@dataclass(frozen=True, slots=True)
class Fakes:
    openai: FakeOpenAI  # openai and azure: the fake serves both path families
    anthropic: FakeAnthropic
    gemini: FakeGemini  # gemini and vertex, and the OAuth token endpoint
    bedrock: FakeBedrock
    cohere: FakeCohere

    def reset(self) -> None:
        for fake in (self.openai, self.anthropic, self.gemini, self.bedrock, self.cohere):
            fake.reset()


# --- what each fake reported, in the provider's own semantics ------------------------------------------------


def openai_reported(fake: FakeOpenAI) -> Tokens:
    """OpenAI counts cached tokens inside ``prompt_tokens`` and reasoning inside ``completion_tokens``."""
    body = fake.requests[-1].json
    reply = chat_reply(body)
    choices = body.get("n") or 1
    usage = chat_usage(
        count_prompt_tokens(body["messages"]),
        choices * reply.completion_tokens,
        fake.cached_tokens,
        fake.reasoning_tokens,
    )
    return Tokens(
        usage["prompt_tokens"],
        usage["completion_tokens"],
        cached=usage["prompt_tokens_details"]["cached_tokens"],
        reasoning=usage["completion_tokens_details"]["reasoning_tokens"],
    )


def anthropic_reported(fake: FakeAnthropic) -> Tokens:
    """Anthropic counts cache reads and writes apart from ``input_tokens``; thinking is inside ``output_tokens``."""
    usage = fake.usages[-1]
    read, write = usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]
    thinking = (usage.get("output_tokens_details") or {}).get("thinking_tokens", 0)
    return Tokens(usage["input_tokens"] + read + write, usage["output_tokens"], read, write, thinking)


def gemini_reported(fake: FakeGemini) -> Tokens:
    """Google counts cached tokens inside ``promptTokenCount`` and thoughts apart from ``candidatesTokenCount``."""
    body = fake.requests[-1].json
    candidates = int((body.get("generationConfig") or {}).get("candidateCount") or 1)
    meta = gemini_fake.Meta("", "", fake.cached_tokens, fake.thoughts_tokens)
    usage = gemini_fake.usage(body, gemini_fake.reply(body, fake.thought_signature), candidates, meta)
    thoughts = usage.get("thoughtsTokenCount", 0)
    return Tokens(
        usage["promptTokenCount"],
        usage["candidatesTokenCount"] + thoughts,
        cached=usage.get("cachedContentTokenCount", 0),
        reasoning=thoughts,
    )


def bedrock_reported(fake: FakeBedrock) -> Tokens:
    """Bedrock's ``inputTokens`` leaves out cache reads and writes, which it reports beside it."""
    reply = bedrock_fake.converse_reply(fake.requests[-1].json, fake.reasoning)
    usage = bedrock_fake.usage_of(reply, fake.cache_read_tokens, fake.cache_write_tokens)
    read, write = usage.get("cacheReadInputTokens", 0), usage.get("cacheWriteInputTokens", 0)
    return Tokens(usage["inputTokens"] + read + write, usage["outputTokens"], read, write)


def cohere_reported(fake: FakeCohere) -> Tokens:
    """Cohere's ``tokens`` are what the model read and wrote (its template included); cached tokens are inside."""
    usage = fake.usages[-1]
    tokens = usage["tokens"]
    return Tokens(tokens["input_tokens"], tokens["output_tokens"], cached=usage.get("cached_tokens", 0))


def upstreams(fakes: Fakes) -> dict[str, Upstream]:
    """The table: one row per provider type. Only the fakes' answers differ; the scripts are the same for all."""
    echo, tool = ("echo: ", "tool said: ")
    city_x = {"city": "x"}

    def row(ptype: str, reported: Callable[[], Tokens], **answers: Any) -> Upstream:
        texts = {"reply_prefix": echo, "tool_reply_prefix": tool, "tool_arguments": city_x, **answers}
        return Upstream(ptype, f"{ptype}-chat", reported=reported, **texts)

    return {
        u.type: u
        for u in (
            row("openai", lambda: openai_reported(fakes.openai)),
            row("azure", lambda: openai_reported(fakes.openai)),
            row("anthropic", lambda: anthropic_reported(fakes.anthropic)),
            row("gemini", lambda: gemini_reported(fakes.gemini)),
            row("vertex", lambda: gemini_reported(fakes.gemini)),
            row(
                "bedrock",
                lambda: bedrock_reported(fakes.bedrock),
                reply_prefix="You said: ",
                tool_reply_prefix="The tool answered: ",
                tool_arguments={"city": "example"},
            ),
            row("cohere", lambda: cohere_reported(fakes.cohere)),
        )
    }


PROVIDER_TYPES = ("openai", "azure", "anthropic", "gemini", "vertex", "bedrock", "cohere")


def gateway_config(fakes: Fakes, key_file: Path) -> str:
    return f"""
providers:
  openai: {{type: openai, base_url: "{fakes.openai.url}", api_key: "${{OPENAI_KEY}}"}}
  azure: {{type: azure, base_url: "{fakes.openai.root_url}", api_key: "${{OPENAI_KEY}}", api_version: "2024-10-21"}}
  anthropic: {{type: anthropic, base_url: "{fakes.anthropic.url}", api_key: "${{ANTHROPIC_KEY}}"}}
  gemini: {{type: gemini, base_url: "{fakes.gemini.url}", api_key: "${{GEMINI_KEY}}"}}
  vertex: {{type: vertex, project: fake-project, location: us-central1, credentials_file: "{key_file}",
            base_url: "{fakes.gemini.vertex_url}"}}
  bedrock: {{type: bedrock, region: {bedrock_fake.REGION}, access_key_id: "${{AWS_ACCESS_KEY_ID}}",
             secret_access_key: "${{AWS_SECRET_ACCESS_KEY}}", base_url: "{fakes.bedrock.url}"}}
  cohere: {{type: cohere, base_url: "{fakes.cohere.url}", api_key: "${{COHERE_KEY}}"}}
models:
  openai-chat: [{{provider: openai, model: gpt-4o-mini}}]
  azure-chat: [{{provider: azure, model: my-gpt-4o-mini}}]
  anthropic-chat: [{{provider: anthropic, model: claude-sonnet-4-5}}]
  gemini-chat: [{{provider: gemini, model: gemini-2.5-flash}}]
  vertex-chat: [{{provider: vertex, model: gemini-2.5-flash}}]
  bedrock-chat: [{{provider: bedrock, model: "anthropic.claude-3-5-sonnet-20240620-v1:0"}}]
  cohere-chat: [{{provider: cohere, model: command-a-03-2025}}]
"""


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def fakes() -> Iterator[Fakes]:
    # Cache reads, cache writes and reasoning are non-zero wherever a fake can report them, so that the suite checks
    # how each adapter counts them, not only that zeros stay zeros.
    with (
        FakeOpenAI(OPENAI_KEY, cached_tokens=2, reasoning_tokens=3) as openai_up,
        FakeAnthropic(ANTHROPIC_KEY, cache_read_tokens=11, cache_creation_tokens=13) as anthropic_up,
        FakeGemini(GEMINI_KEY, cached_tokens=2, thoughts_tokens=3, thought_signature=SIGNATURE) as gemini_up,
        FakeBedrock(cache_read_tokens=5, cache_write_tokens=7) as bedrock_up,
        FakeCohere(COHERE_KEY, cached_tokens=3) as cohere_up,
    ):
        yield Fakes(openai_up, anthropic_up, gemini_up, bedrock_up, cohere_up)


@pytest.fixture(scope="package")
def gateway(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    key_file = fakes.gemini.write_service_account(tmp_path_factory.mktemp("vertex") / "service-account.json")
    env = {
        "OPENAI_KEY": OPENAI_KEY,
        "ANTHROPIC_KEY": ANTHROPIC_KEY,
        "GEMINI_KEY": GEMINI_KEY,
        "COHERE_KEY": COHERE_KEY,
        "AWS_ACCESS_KEY_ID": bedrock_fake.ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": bedrock_fake.SECRET_ACCESS_KEY,
    }
    with gateway_from_yaml(gateway_config(fakes, key_file), env=env) as gw:
        yield gw


@pytest.fixture(params=PROVIDER_TYPES)
def upstream(request: pytest.FixtureRequest, fakes: Fakes, gateway: RunningGateway) -> Upstream:
    fakes.reset()
    return upstreams(fakes)[request.param]


@pytest.fixture
def openai_client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
def anthropic_client(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.root, api_key=MASTER_KEY, max_retries=0) as client:
        yield client
