"""Decorators (`prompts.decorators`): a system-wide prompt put before every request's messages, and a suffix only
for one model; released, moved and rolled back like any prompt (issue 17, "Decorators")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.api.admin.support import admin
from tests.fakes.openai import FakeOpenAI
from tests.prompts.conftest import config_text
from tests.prompts.support import Team
from tests.support import RunningGateway, gateway_from_yaml

DECORATORS = """  decorators:
    - {prompt: house-style, position: prefix}
    - {prompt: house-footer, label: dev, models: [other], position: suffix}"""


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    """Its own gateway: once released, the house style would decorate every other test's requests."""
    with gateway_from_yaml(config_text(fake, DECORATORS)) as gw:
        yield gw


@pytest.fixture(scope="module")
def team(gateway: RunningGateway) -> Iterator[Team]:
    made = Team(gateway)
    yield made
    made.close()


def _release(gateway: RunningGateway, name: str, label: str, content: str, role: str = "system") -> str:
    with admin(gateway) as master:
        master.post("/admin/v1/prompts", json={"name": name})  # 409 when it exists: fine
        version = master.post(
            f"/admin/v1/prompts/{name}/versions", json={"messages": [{"role": role, "content": content}]}
        ).json()["id"]
        moved = master.post(
            f"/admin/v1/prompts/{name}/promotions", json={"label": label, "version": version, "reason": "house"}
        )
        assert moved.status_code == 201, moved.text
    return str(version)


def test_decorators_wrap_matching_requests_and_follow_their_label(
    gateway: RunningGateway, team: Team, fake: FakeOpenAI
) -> None:
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    plain = {"model": "gpt", "messages": [{"role": "user", "content": marker}]}
    assert team.chat(plain).status_code == 200  # nothing released yet: nothing applied
    sent = fake.wait_for_request(lambda r: isinstance(r.json, dict) and marker in str(r.json.get("messages")))
    assert sent.json["messages"] == plain["messages"]

    # the house style is read at `production`, a protected label: two system admins other than the author approve it
    with admin(gateway) as master:
        master.post("/admin/v1/prompts", json={"name": "house-style"})
        version = master.post(
            "/admin/v1/prompts/house-style/versions",
            json={"messages": [{"role": "system", "content": "House style for {{ principal.project }}."}]},
        ).json()["id"]
    reviewers = [_system_admin(gateway) for _ in range(2)]
    with admin(gateway) as master:
        pid = master.post(
            "/admin/v1/prompts/house-style/promotions",
            json={"label": "production", "version": version, "reason": "house"},
        ).json()["id"]
    for key in reviewers:
        with admin(gateway, key) as reviewer:
            assert reviewer.post(f"/admin/v1/prompt-promotions/{pid}/approve").status_code == 200
    _release(gateway, "house-footer", "dev", "Answer in English.", role="user")

    marker2 = f"marker-{uuid.uuid4().hex[:8]}"
    assert team.chat({"model": "gpt", "messages": [{"role": "user", "content": marker2}]}).status_code == 200
    sent = fake.wait_for_request(lambda r: isinstance(r.json, dict) and marker2 in str(r.json.get("messages")))
    assert sent.json["messages"][0]["content"].startswith("House style for ")
    assert sent.json["messages"][-1] == {"role": "user", "content": marker2}  # the footer is for `other` only
    marker3 = f"marker-{uuid.uuid4().hex[:8]}"
    assert team.chat({"model": "other", "messages": [{"role": "user", "content": marker3}]}).status_code == 200
    sent = fake.wait_for_request(lambda r: isinstance(r.json, dict) and marker3 in str(r.json.get("messages")))
    assert [m["content"] for m in sent.json["messages"]][1:] == [marker3, "Answer in English."]


def _system_admin(gateway: RunningGateway) -> str:
    from tests.api.admin.support import create_project, create_user, grant, user_key

    with admin(gateway) as master:
        user = create_user(master)["id"]
        grant(master, user, "system", None, "admin")
        return user_key(master, create_project(master)["id"], user)


def test_a_decorator_naming_an_unknown_model_is_a_config_error() -> None:
    from wardgate.config import ConfigError
    from wardgate.config.loader import load_config_text

    text = """master_key: sk-test-master-key
providers: {d: {type: mock}}
models: {chat: [{provider: d, model: m}]}
prompts: {decorators: [{prompt: footer, models: [gpt-4o-mini], position: suffix}]}
"""
    with pytest.raises(ConfigError, match=r"prompts.decorators\[0\].models: 'gpt-4o-mini' is not a configured model"):
        load_config_text(text, source="test.yaml", env={})
