"""Every client body gets a 4xx in the client's own error shape, never a 500: wrong JSON types anywhere, bodies that
are not objects, invalid UTF-8, and nesting deeper than the one depth limit that parsing and re-encoding share."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway
from wardgate.api.body import MAX_DEPTH

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
USER = [{"role": "user", "content": "hi"}]
CHAT: dict[str, Any] = {"model": "gpt", "messages": USER}
COMPLETION: dict[str, Any] = {"model": "gpt", "prompt": "hi"}
EMBEDDING: dict[str, Any] = {"model": "emb", "input": "hi"}
ANTHROPIC: dict[str, Any] = {"model": "gpt", "max_tokens": 5, "messages": USER}


def message(**fields: Any) -> dict[str, Any]:
    return {**CHAT, "messages": [{"role": "user", "content": "hi", **fields}]}


def tool_call(**function: Any) -> dict[str, Any]:
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}", **function}}]
    return {**CHAT, "messages": [*USER, {"role": "assistant", "content": None, "tool_calls": calls}]}


OPENAI_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("/chat/completions", message(role={}), "messages[0].role"),
    ("/chat/completions", message(role=None), "messages[0].role"),
    ("/chat/completions", {**CHAT, "messages": "hi"}, "messages"),
    ("/chat/completions", {**CHAT, "messages": {"role": "user"}}, "messages"),
    ("/chat/completions", {**CHAT, "messages": [1]}, "messages[0]"),
    ("/chat/completions", message(content=5), "messages[0].content"),
    ("/chat/completions", message(content={"text": "hi"}), "messages[0].content"),
    ("/chat/completions", message(content=[1]), "messages[0].content[0]"),
    ("/chat/completions", message(content=[{"type": 5}]), "messages[0].content[0].type"),
    ("/chat/completions", message(content=[{"text": "no type"}]), "messages[0].content[0].type"),
    ("/chat/completions", message(content=[{"type": "text", "text": {}}]), "messages[0].content[0].text"),
    ("/chat/completions", message(content=[{"type": "text"}]), "messages[0].content[0].text"),
    (
        "/chat/completions",
        message(content=[{"type": "image_url", "image_url": "u"}]),
        "messages[0].content[0].image_url",
    ),
    (
        "/chat/completions",
        message(content=[{"type": "image_url", "image_url": {"url": []}}]),
        "messages[0].content[0].image_url.url",
    ),
    (
        "/chat/completions",
        message(content=[{"type": "file", "file": {"file_data": 1}}]),
        "messages[0].content[0].file.file_data",
    ),
    ("/chat/completions", message(name=["n"]), "messages[0].name"),
    ("/chat/completions", {**CHAT, "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    (
        "/chat/completions",
        {**CHAT, "messages": [{"role": "tool", "content": "x", "tool_call_id": 1}]},
        "messages[0].tool_call_id",
    ),
    ("/chat/completions", message(tool_calls={}), "messages[0].tool_calls"),
    ("/chat/completions", message(tool_calls=["c"]), "messages[0].tool_calls[0]"),
    ("/chat/completions", tool_call(name=1), "messages[1].tool_calls[0].function.name"),
    ("/chat/completions", tool_call(arguments={"a": 1}), "messages[1].tool_calls[0].function.arguments"),
    ("/chat/completions", message(thinking_blocks=["t"]), "messages[0].thinking_blocks[0]"),
    ("/chat/completions", {**CHAT, "tools": {}}, "tools"),
    ("/chat/completions", {**CHAT, "tools": [1]}, "tools[0]"),
    ("/chat/completions", {**CHAT, "tools": [{"function": {"name": "f"}}]}, "tools[0].type"),
    ("/chat/completions", {**CHAT, "tools": [{"type": "function", "function": "f"}]}, "tools[0].function"),
    ("/chat/completions", {**CHAT, "tools": [{"type": "function"}]}, "tools[0].function"),
    (
        "/chat/completions",
        {**CHAT, "tools": [{"type": "function", "function": {"name": {}}}]},
        "tools[0].function.name",
    ),
    (
        "/chat/completions",
        {**CHAT, "tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
        "tools[0].function.parameters",
    ),
    ("/chat/completions", {**CHAT, "tool_choice": 5}, "tool_choice"),
    (
        "/chat/completions",
        {**CHAT, "tool_choice": {"type": "function", "function": {"name": 1}}},
        "tool_choice.function.name",
    ),
    ("/chat/completions", {**CHAT, "stop": {"s": 1}}, "stop"),
    ("/chat/completions", {**CHAT, "stop": ["a", 1]}, "stop"),
    ("/chat/completions", {**CHAT, "n": "2"}, "n"),
    ("/chat/completions", {**CHAT, "n": 1.5}, "n"),
    ("/chat/completions", {**CHAT, "n": 10**6}, "n"),
    ("/chat/completions", {**CHAT, "stream": "true"}, "stream"),
    ("/chat/completions", {**CHAT, "stream": 1}, "stream"),
    ("/chat/completions", {**CHAT, "stream_options": "usage"}, "stream_options"),
    ("/chat/completions", {**CHAT, "max_tokens": "10"}, "max_tokens"),
    ("/chat/completions", {**CHAT, "max_tokens": -1}, "max_tokens"),
    ("/chat/completions", {**CHAT, "max_tokens": 2**62}, "max_tokens"),
    ("/chat/completions", {**CHAT, "max_tokens": 1e30}, "max_tokens"),
    ("/chat/completions", {**CHAT, "max_completion_tokens": True}, "max_completion_tokens"),
    ("/chat/completions", {**CHAT, "max_completion_tokens": 2**40}, "max_completion_tokens"),
    ("/chat/completions", {**CHAT, "temperature": "hot"}, "temperature"),
    ("/chat/completions", {**CHAT, "top_p": [1]}, "top_p"),
    ("/chat/completions", {**CHAT, "seed": "1"}, "seed"),
    ("/chat/completions", {**CHAT, "logprobs": "yes"}, "logprobs"),
    ("/chat/completions", {**CHAT, "response_format": "json"}, "response_format"),
    ("/chat/completions", {**CHAT, "response_format": {}}, "response_format.type"),
    (
        "/chat/completions",
        {**CHAT, "response_format": {"type": "json_schema", "json_schema": []}},
        "response_format.json_schema",
    ),
    ("/chat/completions", {**CHAT, "user": {"id": 1}}, "user"),
    ("/chat/completions", {**CHAT, "metadata": ["m"]}, "metadata"),
    ("/chat/completions", {**CHAT, "model": 5}, "model"),
    ("/chat/completions", {**CHAT, "model": ""}, "model"),
    ("/chat/completions", {**CHAT, "model": {"name": "gpt"}}, "model"),
    ("/completions", {**COMPLETION, "prompt": {}}, "prompt"),
    ("/completions", {**COMPLETION, "prompt": [1, "a"]}, "prompt"),
    ("/completions", {**COMPLETION, "prompt": [[1], "a"]}, "prompt"),
    ("/completions", {"model": "gpt"}, "prompt"),
    ("/completions", {**COMPLETION, "max_tokens": "5"}, "max_tokens"),
    ("/completions", {**COMPLETION, "stop": {}}, "stop"),
    ("/completions", {**COMPLETION, "echo": "yes"}, "echo"),
    ("/completions", {**COMPLETION, "stream": "no"}, "stream"),
    ("/completions", {**COMPLETION, "n": "1"}, "n"),
    ("/embeddings", {**EMBEDDING, "input": {}}, "input"),
    ("/embeddings", {**EMBEDDING, "input": [1, "a"]}, "input"),
    ("/embeddings", {**EMBEDDING, "input": [[1, "a"]]}, "input"),
    ("/embeddings", {"model": "emb"}, "input"),
    ("/embeddings", {**EMBEDDING, "dimensions": "8"}, "dimensions"),
    ("/embeddings", {**EMBEDDING, "encoding_format": 5}, "encoding_format"),
    ("/embeddings", {**EMBEDDING, "user": 5}, "user"),
]


def post(gateway: RunningGateway, path: str, content: bytes) -> httpx.Response:
    with httpx.Client() as http:
        return http.post(gateway.url + path, content=content, headers=AUTH)


def openai_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    validate("ErrorResponse", body)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert response.headers["x-should-retry"] == "false"
    assert response.headers["x-wardgate-request-id"]
    return body["error"]


def anthropic_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert isinstance(body["error"]["message"], str)
    assert response.headers["x-should-retry"] == "false"
    return body


def nested(depth: int) -> bytes:
    """JSON text ``depth`` levels deep: arrays around one object (written by hand: orjson encodes at most 254)."""
    return b"[" * (depth - 1) + b'{"leaf": 1}' + b"]" * (depth - 1)


def body_at_depth(base: dict[str, Any], depth: int) -> bytes:
    """``base`` with an extra field that makes the whole body exactly ``depth`` levels deep."""
    return b'{"deep": ' + nested(depth - 1) + b", " + orjson.dumps(base)[1:]


@pytest.mark.parametrize(("path", "body", "param"), OPENAI_CASES)
def test_a_field_of_the_wrong_type_is_a_400_naming_it(
    gateway: RunningGateway, path: str, body: dict[str, Any], param: str
) -> None:
    error = openai_error(post(gateway, path, orjson.dumps(body)))
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


NOT_OBJECTS = [b"[]", b'"text"', b"1", b"null", b"true", b"", b"{", b'{"model": "gpt",}']


@pytest.mark.parametrize("path", ["/chat/completions", "/completions", "/embeddings"])
@pytest.mark.parametrize("content", NOT_OBJECTS)
def test_a_body_that_is_not_a_json_object_is_a_400(gateway: RunningGateway, path: str, content: bytes) -> None:
    error = openai_error(post(gateway, path, content))
    assert error["code"] == "invalid_json"


@pytest.mark.parametrize(
    "content",
    [
        b'{"model": "gpt", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
        b'{"model": "gpt", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}',  # an encoded surrogate
        b'{"model": "gpt", "messages": [{"role": "user", "content": "\\ud800"}]}',  # a lone surrogate escape
        b'\xef\xbb\xbf{"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}',  # a byte-order mark
    ],
)
def test_invalid_utf8_is_a_400(gateway: RunningGateway, content: bytes) -> None:
    assert openai_error(post(gateway, "/chat/completions", content))["code"] == "invalid_json"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 254, 255, 256, 1024, 5000])
@pytest.mark.parametrize(
    ("path", "base"), [("/chat/completions", CHAT), ("/completions", COMPLETION), ("/embeddings", EMBEDDING)]
)
def test_a_body_nested_deeper_than_the_limit_is_a_400(
    gateway: RunningGateway, path: str, base: dict[str, Any], depth: int
) -> None:
    error = openai_error(post(gateway, path, body_at_depth(base, depth)))
    assert error["code"] == "invalid_json"
    assert str(MAX_DEPTH) in error["message"]


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH])
def test_a_body_at_the_depth_limit_reaches_the_provider_unchanged(
    gateway: RunningGateway, fake: FakeOpenAI, depth: int
) -> None:
    content = body_at_depth(CHAT, depth)
    response = post(gateway, "/chat/completions", content)
    assert response.status_code == 200, response.text
    sent = fake.wait_for_request(lambda r: bool(r.json) and "deep" in r.json)
    assert sent.json["deep"] == orjson.loads(content)["deep"]


def test_tool_call_arguments_nested_deeper_than_the_limit_are_a_400(gateway: RunningGateway) -> None:
    deep = nested(300).decode()
    error = openai_error(post(gateway, "/chat/completions", orjson.dumps(tool_call(arguments=deep))))
    assert error["param"] == "messages[1].tool_calls[0].function.arguments"
    answer = orjson.dumps({**CHAT, "messages": [*USER, {"role": "tool", "tool_call_id": "c1", "content": deep}]})
    assert openai_error(post(gateway, "/chat/completions", answer))["param"] == "messages[1].content"


ANTHROPIC_CASES: list[dict[str, Any]] = [
    {**ANTHROPIC, "messages": [{"role": {}, "content": "hi"}]},
    {**ANTHROPIC, "messages": "hi"},
    {**ANTHROPIC, "messages": [{"role": "user", "content": 5}]},
    {**ANTHROPIC, "messages": [{"role": "user", "content": [{"type": "text", "text": {}}]}]},
    {**ANTHROPIC, "max_tokens": "5"},
    {**ANTHROPIC, "stream": "yes"},
    {**ANTHROPIC, "metadata": {"user_id": {"id": 1}}},
    {**ANTHROPIC, "model": 5},
    {**ANTHROPIC, "tools": [{"name": {}, "input_schema": {}}]},
    {**ANTHROPIC, "tool_choice": "auto"},
    {**ANTHROPIC, "stop_sequences": "stop"},
    {**ANTHROPIC, "system": 5},
]


@pytest.mark.parametrize("path", ["/messages", "/messages/count_tokens"])
@pytest.mark.parametrize("body", ANTHROPIC_CASES)
def test_the_anthropic_surface_refuses_wrong_types_in_its_own_shape(
    gateway: RunningGateway, path: str, body: dict[str, Any]
) -> None:
    anthropic_error(post(gateway, path, orjson.dumps(body)))


@pytest.mark.parametrize("path", ["/messages", "/messages/count_tokens"])
@pytest.mark.parametrize("content", [*NOT_OBJECTS, b'{"model": "\xff"}'])
def test_the_anthropic_surface_refuses_bodies_that_are_not_json_objects(
    gateway: RunningGateway, path: str, content: bytes
) -> None:
    anthropic_error(post(gateway, path, content))


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 256, 1024])
@pytest.mark.parametrize("path", ["/messages", "/messages/count_tokens"])
def test_the_anthropic_surface_refuses_deep_bodies(gateway: RunningGateway, path: str, depth: int) -> None:
    schema = b'{"type": "object", "properties": ' + nested(depth - 4) + b"}"  # body, tools, the tool, its schema
    body = orjson.dumps(ANTHROPIC)[:-1] + b', "tools": [{"name": "f", "input_schema": ' + schema + b"}]}"
    assert str(MAX_DEPTH) in anthropic_error(post(gateway, path, body))["error"]["message"]
