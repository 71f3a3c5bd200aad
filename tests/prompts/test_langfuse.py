"""The Langfuse-compatible read API (issue 17, done-when 6): the real PyPI ``langfuse`` SDK's ``get_prompt`` works
unchanged against Wardgate, authenticated by a public/secret key pair that maps to a virtual key."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langfuse import Langfuse
from langfuse.api import NotFoundError
from langfuse.model import ChatPromptClient, TextPromptClient

from tests.api.admin.support import admin, create_project, unique
from tests.prompts.support import SUPPORT_V1, Team, variant
from tests.support import RunningGateway

PATH = "/api/public/v2/prompts/"


def _key(gateway: RunningGateway, project: str) -> tuple[str, str]:
    """A virtual key's id and secret: the Langfuse public and secret keys."""
    with admin(gateway) as master:
        made = master.post("/admin/v1/keys", json={"project": project})
        assert made.status_code == 201, made.text
        return str(made.json()["id"]), str(made.json()["key"])


@pytest.fixture(scope="module")
def pair(gateway: RunningGateway, team: Team) -> tuple[str, str]:
    return _key(gateway, team.project)


@pytest.fixture(scope="module")
def langfuse(gateway: RunningGateway, pair: tuple[str, str]) -> Iterator[Langfuse]:
    public, secret = pair
    client = Langfuse(public_key=public, secret_key=secret, base_url=gateway.root, tracing_enabled=False)
    yield client
    client.shutdown()


@pytest.fixture(scope="module")
def released(team: Team) -> tuple[str, str]:
    """A chat prompt with two versions: `dev` on the first, `qa` and the newest on the second."""
    second = variant(SUPPORT_V1, "You are brief with {{ customer.name }}.")
    with team.as_user(0) as client:
        name, (v1, v2) = team.new_prompt(client, SUPPORT_V1, second)
        for label, version in (("dev", v1), ("qa", v2)):
            moved = client.post(
                f"/admin/v1/prompts/{name}/promotions", json={"label": label, "version": version, "reason": "lf"}
            )
            assert moved.json()["status"] == "applied", moved.text
    return name, v1


def test_the_sdk_reads_a_chat_prompt_by_label_and_by_version(langfuse: Langfuse, released: tuple[str, str]) -> None:
    name, _ = released
    by_label = langfuse.get_prompt(name, label="dev", type="chat", cache_ttl_seconds=0)
    assert isinstance(by_label, ChatPromptClient)
    assert (by_label.name, by_label.version, by_label.labels) == (name, 1, ["dev"])
    assert by_label.prompt == [{"type": "message", **m} for m in SUPPORT_V1["messages"]]
    assert by_label.config == {"model": "gpt", "temperature": 0.2, "max_tokens": 50}
    compiled = by_label.compile(customer="Ada")  # Langfuse's own {{ variable }} substitution, client side
    assert compiled[1] == {"role": "user", "content": "Example question"}

    by_version = langfuse.get_prompt(name, version=2, type="chat", cache_ttl_seconds=0)
    assert isinstance(by_version, ChatPromptClient)
    assert by_version.version == 2 and sorted(by_version.labels) == ["latest", "qa"]
    assert by_version.compile()[0]["content"] == "You are brief with {{ customer.name }}."

    latest = langfuse.get_prompt(name, label="latest", type="chat", cache_ttl_seconds=0)
    assert latest.version == 2


def test_a_text_version_is_a_text_prompt(langfuse: Langfuse, team: Team) -> None:
    text = {"type": "text", "messages": [{"role": "user", "content": "Summarise for {{ tier }}: {{ ticket }}"}]}
    with team.as_user(0) as client:
        name, (v1,) = team.new_prompt(client, text)
        same_as_chat = client.post(f"/admin/v1/prompts/{name}/versions", json={**text, "type": "chat"})
        assert same_as_chat.status_code == 201 and same_as_chat.json()["type"] == "chat"  # another content hash
        assert same_as_chat.json()["id"] != v1
        client.post(f"/admin/v1/prompts/{name}/promotions", json={"label": "production", "version": v1, "reason": "x"})
        two_messages = {"type": "text", "messages": [*text["messages"], {"role": "user", "content": "b"}]}
        refused = client.post(f"/admin/v1/prompts/{name}/versions", json=two_messages)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "messages"
    # production is protected (two approvals): the move is pending, so production is not there yet
    with pytest.raises(NotFoundError):
        langfuse.get_prompt(name, cache_ttl_seconds=0, max_retries=0)
    prompt = langfuse.get_prompt(name, version=1, cache_ttl_seconds=0)
    assert isinstance(prompt, TextPromptClient)
    assert prompt.prompt == "Summarise for {{ tier }}: {{ ticket }}"
    assert prompt.compile(tier="pro", ticket="late parcel") == "Summarise for pro: late parcel"


def _get(gateway: RunningGateway, path: str, auth: str | None, **params: Any) -> httpx.Response:
    headers = {"authorization": auth} if auth is not None else {}
    return httpx.get(gateway.root + path, headers=headers, params=params, timeout=10)


def _basic(public: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{public}:{secret}".encode()).decode()


def test_credentials_and_queries_are_checked(
    gateway: RunningGateway, pair: tuple[str, str], released: tuple[str, str]
) -> None:
    public, secret = pair
    name, _ = released
    good = _basic(public, secret)
    assert _get(gateway, PATH + name, good, label="dev").status_code == 200
    for auth in (
        None,
        "Bearer " + secret,
        _basic("key_other", secret),  # the public key is not the secret key's id
        _basic(public, "sk-wg-not-a-key"),
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + "A" * 5000,
    ):
        answer = _get(gateway, PATH + name, auth, label="dev")
        assert answer.status_code == 401, (auth, answer.text)
        assert answer.json()["error"] == "UnauthorizedError"
    for params in ({"label": "dev", "version": "1"}, {"version": "0"}, {"version": "x"}, {"label": "a b"}, {"x": "1"}):
        answer = _get(gateway, PATH + name, good, **params)
        assert answer.status_code == 400, (params, answer.text)
        assert set(answer.json()) == {"message", "error"}
    for path, params in (
        (PATH + name, {"label": "nope"}),
        (PATH + name, {"version": "99"}),
        (PATH + "no-such-prompt", {}),
        (PATH + "folder/" + name, {}),
        (PATH + "%00" * 3, {}),
    ):
        answer = _get(gateway, path, good, **params)
        assert answer.status_code == 404 and answer.json()["error"] == "LangfuseNotFoundError", answer.text
    assert httpx.post(gateway.root + PATH + name, headers={"authorization": good}).status_code == 405


def test_another_projects_key_does_not_see_the_prompt(gateway: RunningGateway, released: tuple[str, str]) -> None:
    name, _ = released
    with admin(gateway) as master:
        other = create_project(master, name=unique("elsewhere"))["id"]
    public, secret = _key(gateway, other)
    client = Langfuse(public_key=public, secret_key=secret, base_url=gateway.root, tracing_enabled=False)
    try:
        with pytest.raises(NotFoundError):
            client.get_prompt(name, label="dev", cache_ttl_seconds=0, max_retries=0)
    finally:
        client.shutdown()
