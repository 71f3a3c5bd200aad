"""Every failure reaches the client in OpenAI's error shape with the right status, and never leaks a secret."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def post(gateway: RunningGateway, path: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client() as http:
        return http.post(gateway.url + path, content=content, headers={**AUTH, **(headers or {})})


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    validate("ErrorResponse", body)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def test_no_key_and_a_wrong_key_are_401(gateway: RunningGateway) -> None:
    with (
        openai.OpenAI(base_url=gateway.url, api_key="sk-not-the-key", max_retries=0) as bad,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        bad.chat.completions.create(model="gpt", messages=MESSAGES)
    assert caught.value.code == "invalid_api_key"
    with httpx.Client() as http:
        response = http.post(gateway.url + "/chat/completions", json={"model": "gpt", "messages": MESSAGES})
    assert_error(response, 401, "invalid_api_key")


def test_an_anthropic_style_x_api_key_header_is_accepted(gateway: RunningGateway) -> None:
    with httpx.Client() as http:
        response = http.post(
            gateway.url + "/chat/completions",
            json={"model": "gpt", "messages": MESSAGES},
            headers={"x-api-key": MASTER_KEY},
        )
    assert response.status_code == 200


def test_an_unknown_model_is_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-99", messages=MESSAGES)
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "gpt"}', "messages"),
        (b'{"model": "gpt", "messages": []}', "messages"),
        (b'{"model": "gpt", "messages": [{"role": 7, "content": "x"}]}', "messages[0].role"),
        (b'{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "temperature": "9"}', "temperature"),
        (b'{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream"),
        (b'{"model": "gpt", "messages": [{"role": "user", "content": "x"}], "stream_options": 1}', "stream_options"),
        (b'{"model": "gpt", "messages": [{"role": "tool", "content": "x"}]}', "messages[0].tool_call_id"),
    ],
)
def test_malformed_requests_are_400_naming_the_field(
    gateway: RunningGateway, content: bytes, param: str | None
) -> None:
    error = assert_error(post(gateway, "/chat/completions", content), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_malformed_embeddings_are_400(gateway: RunningGateway) -> None:
    error = assert_error(post(gateway, "/embeddings", b'{"model": "emb", "input": [1, "a"]}'), 400)
    assert error["param"] == "input"
    error = assert_error(post(gateway, "/embeddings", b'{"model": "emb", "input": "a", "encoding_format": 64}'), 400)
    assert error["param"] == "encoding_format"


def test_an_oversize_body_is_413_before_it_is_read(fake: FakeOpenAI) -> None:
    config = f"""
server: {{max_body_bytes: 1000}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-fake-upstream}}
models:
  gpt: [{{provider: up, model: gpt-4o-mini}}]
"""
    with gateway_from_yaml(config) as small:
        big = b'{"model": "gpt", "messages": [{"role": "user", "content": "' + b"x" * 2000 + b'"}]}'
        assert_error(post(small, "/chat/completions", big), 413, "request_too_large")

        def chunked() -> Any:
            yield big[:600]
            yield big[600:]

        with httpx.Client() as http:
            response = http.post(small.url + "/chat/completions", content=chunked(), headers=AUTH)
        assert_error(response, 413, "request_too_large")


def test_unknown_paths_are_404_and_wrong_methods_405(gateway: RunningGateway) -> None:
    with httpx.Client() as http:
        assert_error(http.get(gateway.url + "/nope", headers=AUTH), 404)
        assert_error(http.get(gateway.url + "/chat/completions", headers=AUTH), 405)


def test_upstream_rate_limit_is_429_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="rate-limited", messages=MESSAGES)
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.response.headers["x-wardgate-deployment"] == "up/error-429"
    validate("ErrorResponse", caught.value.response.json())


@pytest.mark.parametrize(("model", "status"), [("broken", 502), ("overloaded", 503), ("rejected", 400)])
def test_upstream_errors_keep_their_meaning(client: openai.OpenAI, model: str, status: int) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=model, messages=MESSAGES)
    assert caught.value.status_code == status
    validate("ErrorResponse", caught.value.response.json())
    assert caught.value.response.json()["error"]["message"].startswith("up: ")


def test_an_upstream_auth_failure_is_502_and_leaks_no_key(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="misconfigured", messages=MESSAGES)
    response = caught.value.response
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_auth_error"
    for secret in ("sk-wrong-upstream-key-abcdef123456", "sk-wro", "3456", "sk-fake-upstream"):
        assert secret not in response.text
        assert all(secret not in value for value in response.headers.values())


def test_an_unreachable_provider_is_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="unreachable", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert caught.value.response.json()["error"]["code"] == "upstream_unavailable"


def test_a_provider_slower_than_its_first_byte_timeout_is_504(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="slow", messages=MESSAGES)
    assert caught.value.status_code == 504
    assert caught.value.response.json()["error"]["code"] == "upstream_timeout"


def test_a_reset_mid_stream_ends_with_an_error_event(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="reset-stream", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert "cut off" in caught.value.message or "closed" in caught.value.message


@pytest.mark.parametrize("model", ["stall", "stall-stream"])
async def test_a_client_that_leaves_cancels_the_upstream_request(
    gateway: RunningGateway, fake: FakeOpenAI, model: str
) -> None:
    fake.disconnected.clear()
    body = {"model": model, "messages": MESSAGES, "stream": model == "stall-stream"}
    async with httpx.AsyncClient() as http:
        task = asyncio.create_task(http.post(gateway.url + "/chat/completions", json=body, headers=AUTH))
        await asyncio.to_thread(fake.wait_for_request, lambda r: bool(r.json) and r.json.get("model") == model)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await asyncio.to_thread(fake.disconnected.wait, 10)


def test_health_endpoints(gateway: RunningGateway) -> None:
    with httpx.Client() as http:
        assert http.get(gateway.root + "/health/live").json() == {"status": "ok"}
        assert http.get(gateway.root + "/health/ready").json() == {"status": "ready"}
