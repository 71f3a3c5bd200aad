"""The admin API answers hostile bodies and requests with a 4xx in the OpenAI error shape: wrong JSON types,
bodies that are not objects, invalid UTF-8, nesting past the data plane's depth limit, unknown routes and methods."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.openapi_schema import validate
from wardgate.api.body import MAX_DEPTH


def openai_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    validate("ErrorResponse", body)
    return body["error"]


def deep(depth: int) -> bytes:
    return b'{"name": "p", "metadata": {"x": ' + b"[" * (depth - 2) + b"1" + b"]" * (depth - 2) + b"}}"


@pytest.mark.parametrize(
    "content",
    [
        b"[]",
        b'"project"',
        b"null",
        b"{",
        b'{"name": {"first": "p"}}',
        b'{"name": ["p"]}',
        b'{"name": "p", "metadata": "m"}',
        b'{"name": "\xff\xfe"}',
        b'{"name": "\\ud800"}',
        deep(MAX_DEPTH + 1),
        deep(256),
        deep(1024),
        deep(5000),
    ],
)
def test_a_hostile_admin_body_is_a_400(client: httpx.Client, content: bytes) -> None:
    response = client.post("/admin/v1/projects", content=content, headers={"content-type": "application/json"})
    openai_error(response)


def test_unknown_admin_routes_and_methods_answer_in_the_openai_shape(client: httpx.Client) -> None:
    assert openai_error(client.get("/admin/v1/nothing-here"), 404)["code"] == "not_found"
    refused = client.request("PATCH", "/admin/v1/projects")
    assert openai_error(refused, 405)["code"] == "method_not_allowed"
    assert "GET" in refused.headers["allow"]
