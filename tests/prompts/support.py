"""Helpers of the prompt tests: a prompt with versions through the admin API, users who review, chat calls."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.admin.support import admin, create_project, create_user, grant, unique, user_key
from tests.support import RunningGateway

SUPPORT_V1: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "You help {{ customer.name }} of {{ principal.project }}. Tier: {{ tier }}."},
        {"role": "user", "content": "Example question"},
        {"role": "assistant", "content": "Example answer"},
    ],
    "model": "gpt",
    "params": {"temperature": 0.2, "max_tokens": 50},
    "variables": {
        "type": "object",
        "properties": {
            "customer": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            "tier": {"enum": ["free", "pro"]},
        },
        "required": ["customer", "tier"],
    },
}


class Team:
    """A project, a data-plane key, and three users with the admin role on it (an author and two reviewers)."""

    def __init__(self, gateway: RunningGateway) -> None:
        self.gateway = gateway
        self._http: httpx.Client | None = None
        with admin(gateway) as master:
            self.project = create_project(master)["id"]
            self.key = _key(master, self.project)
            self.users: list[str] = []
            self.user_keys: list[str] = []
            for _ in range(3):
                user = create_user(master)["id"]
                grant(master, user, "project", self.project, "admin")
                self.users.append(user)
                self.user_keys.append(user_key(master, self.project, user))

    def as_user(self, i: int) -> httpx.Client:
        client = admin(self.gateway, self.user_keys[i])
        client.params = client.params.set("project", self.project)
        return client

    def new_prompt(self, client: httpx.Client, *versions: dict[str, Any]) -> tuple[str, list[str]]:
        name = unique("support")
        created = client.post("/admin/v1/prompts", json={"name": name, "project": self.project})
        assert created.status_code == 201, created.text
        ids = []
        for spec in versions:
            pushed = client.post(f"/admin/v1/prompts/{name}/versions", json=spec)
            assert pushed.status_code == 201, pushed.text
            ids.append(pushed.json()["id"])
        return name, ids

    def chat(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post("/chat/completions", json=body)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:  # one keep-alive connection: the tests send hundreds of calls
            headers = {"authorization": f"Bearer {self.key}"}
            self._http = httpx.Client(base_url=self.gateway.url, headers=headers, timeout=10)
        return self._http


def _key(client: httpx.Client, project: str) -> str:
    response = client.post("/admin/v1/keys", json={"project": project})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def variant(spec: dict[str, Any], text: str) -> dict[str, Any]:
    """The same version with another system message: different content, so a different id."""
    messages = [{"role": "system", "content": text}, *spec["messages"][1:]]
    return {**spec, "messages": messages}
