"""Helpers for the admin API tests: clients, the data plane, and reaching the running gateway's services."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import httpx

from tests.support import MASTER_KEY, RunningGateway

T = TypeVar("T")

CONFIG = """
store: sqlite:///{path}
providers:
  demo: {{type: mock, embedding_dim: 8}}
models:
  chat:
    - {{provider: demo, model: demo-chat, price: {{input: 3, output: 15}}}}
  other:
    - {{provider: demo, model: demo-chat, price: {{input: 1.25, output: 10}}}}
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def admin(gateway: RunningGateway, key: str = MASTER_KEY) -> httpx.Client:
    return httpx.Client(base_url=gateway.root, headers={"authorization": f"Bearer {key}"}, timeout=10)


def flush(gateway: RunningGateway) -> None:
    """Write everything the gateway has queued: usage events, then audit entries."""
    gateway.run(gateway.worker.ledger.flush())
    gateway.run(gateway.worker.audit.flush())


def chat(gateway: RunningGateway, key: str, model: str = "chat", text: str = "hello there") -> httpx.Response:
    return httpx.post(
        gateway.url + "/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        timeout=10,
    )


def create_project(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = client.post("/admin/v1/projects", json={"name": unique("project"), **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_user(client: httpx.Client) -> dict[str, Any]:
    response = client.post("/admin/v1/users", json={"email": f"{unique('user')}@example.com"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def grant(client: httpx.Client, user_id: str, scope: str, scope_id: str | None, role: str) -> None:
    body: dict[str, Any] = {"scope": scope, "role": role}
    if scope_id is not None:
        body["scope_id"] = scope_id
    response = client.put(f"/admin/v1/users/{user_id}/roles", json=body)
    assert response.status_code == 200, response.text


def user_key(client: httpx.Client, project_id: str, user_id: str) -> str:
    """A key bound to a user: what that user authenticates to the admin API with."""
    response = client.post("/admin/v1/keys", json={"project": project_id, "user": user_id})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])
