"""Whatever the surface lets through, every provider's translation either translates or refuses with a
WardgateError (a 4xx), never a TypeError or a KeyError (a 500), and its wire body encodes.

Bodies are generated from the OpenAI chat, completions and embeddings shapes with any field, at any level, replaced
by JSON of another type; the ones ``validate`` accepts are handed to every adapter's pure translation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wardgate.api import validate
from wardgate.api.anthropic_count import estimate, prompt_tokens
from wardgate.core.errors import InvalidRequest, WardgateError
from wardgate.providers.anthropic.completions import completion_to_chat
from wardgate.providers.anthropic.request import to_wire as anthropic_wire
from wardgate.providers.bedrock.embeddings import texts as bedrock_texts
from wardgate.providers.bedrock.translate import to_wire as bedrock_wire
from wardgate.providers.cohere.embed import embed_to_wire
from wardgate.providers.cohere.translate import to_wire as cohere_wire
from wardgate.providers.gemini.embeddings import embedding_inputs, gemini_request, vertex_request
from wardgate.providers.gemini.translate import to_wire as gemini_wire
from wardgate.providers.openai import strip_anthropic_hints

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The well-typed value, or JSON of any other type (one time in ten)."""
    return st.one_of(*[strategy] * 9, anything)


def fields(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """An object; its required keys (but ``model``, ``messages``, ``role``: the table tests refuse those) and its
    optional ones may hold JSON of another type."""
    kept = {"model", "messages", "role"}
    return st.fixed_dictionaries(
        {k: v if k in kept else maybe(v) for k, v in required.items()},
        optional={k: maybe(v) for k, v in optional.items()},
    )


text = st.text(max_size=12)
model = st.text(min_size=1, max_size=12)
arguments = st.one_of(text, anything.map(lambda v: orjson.dumps(v).decode()))
part = st.one_of(
    fields({"type": st.just("text"), "text": text}, {"cache_control": anything}),
    fields({"type": st.just("image_url"), "image_url": fields({"url": text}, {"detail": text})}, {}),
    fields({"type": st.just("file"), "file": fields({}, {"file_data": text, "filename": text, "file_id": text})}, {}),
    fields({"type": st.just("input_audio"), "input_audio": fields({"data": text, "format": text}, {})}, {}),
    fields({"type": text}, {}),
)
tool_call = fields(
    {
        "id": text,
        "type": st.sampled_from(["function", "custom"]),
        "function": fields({"name": text, "arguments": arguments}, {}),
    },
    {},
)
message = fields(
    {
        "role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "narrator"]),
        "content": st.one_of(st.none(), text, st.lists(part, max_size=3)),
    },
    {
        "name": text,
        "tool_call_id": text,
        "tool_calls": st.lists(tool_call, max_size=2),
        "thinking_blocks": st.lists(anything, max_size=2),
        "cache_control": anything,
        "is_error": st.booleans(),
    },
)
tool = fields(
    {
        "type": st.sampled_from(["function", "web_search"]),
        "function": fields(
            {"name": text},
            {"description": text, "parameters": st.dictionaries(text, anything, max_size=3), "strict": st.booleans()},
        ),
    },
    {"cache_control": anything},
)
SAMPLING = {
    "temperature": st.floats(-5, 5),
    "top_p": st.floats(-1, 2),
    "seed": st.integers(-5, 2**31),
    "user": text,
    "stop": st.one_of(text, st.lists(text, max_size=5)),
    "max_tokens": st.integers(-5, 2**31),
    "n": st.integers(-1, 200),
    "stream": st.booleans(),
    "stream_options": st.dictionaries(text, anything, max_size=2),
    "logit_bias": anything,
    "presence_penalty": st.floats(-5, 5),
    "frequency_penalty": st.floats(-5, 5),
    "metadata": anything,
    "service_tier": text,
}
chat = fields(
    {"model": model, "messages": st.lists(message, min_size=1, max_size=4)},
    {
        **SAMPLING,
        "max_completion_tokens": st.integers(-5, 2**31),
        "tools": st.lists(tool, max_size=2),
        "tool_choice": st.one_of(
            st.sampled_from(["auto", "none", "required", "any"]),
            fields({"type": st.just("function"), "function": fields({"name": text}, {})}, {}),
        ),
        "parallel_tool_calls": st.booleans(),
        "logprobs": st.booleans(),
        "top_logprobs": st.integers(-1, 30),
        "response_format": fields(
            {"type": st.sampled_from(["text", "json_object", "json_schema", "yaml"])},
            {
                "json_schema": fields(
                    {"name": text}, {"schema": st.dictionaries(text, anything, max_size=3), "strict": st.booleans()}
                )
            },
        ),
        "reasoning_effort": text,
        "thinking": anything,
        "top_k": anything,
        "cache_control": anything,
        "modalities": anything,
    },
)
prompt_input = st.one_of(
    text,
    st.lists(text, max_size=3),
    st.lists(st.integers(-1, 10**6), max_size=3),
    st.lists(st.lists(st.integers(0, 10), max_size=3), max_size=2),
)
completion = fields(
    {"model": model, "prompt": prompt_input},
    {**SAMPLING, "echo": st.booleans(), "suffix": text, "best_of": st.integers(-1, 5), "logprobs": st.integers(-1, 5)},
)
embedding = fields(
    {"model": model, "input": prompt_input},
    {"encoding_format": text, "dimensions": st.integers(-1, 5000), "user": text},
)


def translates_or_refuses(translate: Callable[[dict[str, Any]], Any], body: dict[str, Any]) -> None:
    try:
        wire = translate(orjson.loads(orjson.dumps(body)))  # a fresh copy: some translations edit in place
    except WardgateError as exc:
        assert 400 <= exc.status < 500, exc
        return
    orjson.dumps(wire)


def every_translation_translates_or_refuses(
    translations: dict[str, Callable[[dict[str, Any]], Any]], body: dict[str, Any]
) -> None:
    """Each adapter on the one body: the examples are generated once for all of them (with ``derandomize`` a
    parametrised test drew the same bodies once per adapter, and drawing them was most of its time)."""
    for adapter, translate in translations.items():
        try:
            translates_or_refuses(translate, body)
        except BaseException as exc:
            exc.add_note(f"adapter: {adapter}")
            raise


CHAT_TRANSLATIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "anthropic": lambda b: anthropic_wire(b, "claude-x"),
    "bedrock": lambda b: bedrock_wire(b, "anthropic.claude-x"),
    "bedrock-nova": lambda b: bedrock_wire(b, "amazon.nova-pro-v1:0"),
    "cohere": lambda b: cohere_wire(b, "command-r", stream=bool(b.get("stream"))),
    "gemini": lambda b: gemini_wire(b, "gemini-2.5-flash"),
    "vertex": lambda b: gemini_wire(b, "gemini-2.5-flash", provider="vertex"),
    "openai": strip_anthropic_hints,
    "count_tokens": lambda b: prompt_tokens(b, estimate),
}
EMBEDDING_TRANSLATIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "bedrock": bedrock_texts,
    "cohere": lambda b: embed_to_wire(b, "embed-v4.0"),
    "gemini": lambda b: (embedding_inputs(b, "gemini"), gemini_request(b, "text-embedding-004")),
    "vertex": lambda b: (embedding_inputs(b, "vertex"), vertex_request(b)),
}
FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def accepted(check: Callable[[dict[str, Any]], Any], body: dict[str, Any]) -> bool:
    try:
        check(body)
    except InvalidRequest:
        return False
    return True


@FUZZ
@given(body=chat)
def test_every_chat_translation_translates_or_refuses_what_the_surface_accepts(body: dict[str, Any]) -> None:
    if accepted(validate.chat, body):
        every_translation_translates_or_refuses(CHAT_TRANSLATIONS, body)


@FUZZ
@given(body=completion)
def test_the_completions_translation_translates_or_refuses_what_the_surface_accepts(body: dict[str, Any]) -> None:
    if accepted(validate.completions, body):
        translates_or_refuses(completion_to_chat, body)


@FUZZ
@given(body=embedding)
def test_every_embeddings_translation_translates_or_refuses_what_the_surface_accepts(body: dict[str, Any]) -> None:
    if accepted(validate.embeddings, body):
        every_translation_translates_or_refuses(EMBEDDING_TRANSLATIONS, body)
