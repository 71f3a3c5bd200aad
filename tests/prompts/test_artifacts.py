"""Few-shot sets and tool sets are artifacts of their own that versions reference (issue 17, "Artifacts"): a version
of another prompt, named by id, expanded when the version is compiled; the reference is part of the content hash."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.admin.support import admin
from tests.fakes.openai import FakeOpenAI
from tests.prompts.support import Team
from tests.support import RunningGateway

EXAMPLES: dict[str, Any] = {
    "messages": [
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": "Let me check the tracking number."},
    ]
}
TOOL = {
    "type": "function",
    "function": {
        "name": "track_parcel",
        "description": "Where a parcel is",
        "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    },
}
TOOLS: dict[str, Any] = {"messages": [], "params": {"tools": [TOOL]}}


def _push(client: httpx.Client, name: str, spec: dict[str, Any]) -> httpx.Response:
    return client.post(f"/admin/v1/prompts/{name}/versions", json=spec)


def test_a_version_takes_its_few_shot_set_and_tools_from_artifacts(
    gateway: RunningGateway, team: Team, fake: FakeOpenAI
) -> None:
    with team.as_user(0) as client:
        examples, (ex_id,) = team.new_prompt(client, EXAMPLES)
        tools, (tools_id,) = team.new_prompt(client, TOOLS)
        spec = {
            "messages": [{"role": "system", "content": "You track parcels for {{ customer }}."}],
            "model": "gpt",
            "examples": {"prompt": examples, "version": ex_id},
            "tools": {"prompt": tools, "version": tools_id},
        }
        name, (vid,) = team.new_prompt(client, spec)
        again = _push(client, name, {**spec, "tools": {"prompt": tools, "version": tools_id}})
        assert again.status_code == 200 and again.json()["id"] == vid  # the same references: the same version
        assert again.json()["examples"] == {"prompt": examples, "version": ex_id}
        without = _push(client, name, {k: v for k, v in spec.items() if k != "tools"})
        assert without.status_code == 201 and without.json()["id"] != vid  # the reference is content
        moved = client.post(
            f"/admin/v1/prompts/{name}/promotions", json={"label": "dev", "version": vid, "reason": "t"}
        )
        assert moved.json()["status"] == "applied"
    answer = team.chat(
        {
            "messages": [{"role": "user", "content": "marker-artifacts"}],
            "wardgate_prompt": {"name": name, "label": "dev", "variables": {"customer": "Ada"}},
        }
    )
    assert answer.status_code == 200, answer.text
    sent = fake.wait_for_request(lambda r: isinstance(r.json, dict) and "marker-artifacts" in str(r.json))
    assert sent.json["messages"] == [
        {"role": "system", "content": "You track parcels for Ada."},
        *EXAMPLES["messages"],
        {"role": "user", "content": "marker-artifacts"},
    ]
    assert sent.json["tools"] == [TOOL]
    # the Langfuse read API serves the version as requests get it: the few-shot set and the tools in place
    with admin(gateway) as master:
        made = master.post("/admin/v1/keys", json={"project": team.project}).json()
    read = httpx.get(
        f"{gateway.root}/api/public/v2/prompts/{name}", params={"label": "dev"}, auth=(made["id"], made["key"])
    )
    assert read.status_code == 200, read.text
    assert [m["content"] for m in read.json()["prompt"]][1:] == [m["content"] for m in EXAMPLES["messages"]]
    assert read.json()["config"] == {"model": "gpt", "tools": [TOOL]}


def test_bad_references_are_refused_at_push(team: Team) -> None:
    with team.as_user(0) as client:
        examples, (ex_id,) = team.new_prompt(client, EXAMPLES)
        tools, (tools_id,) = team.new_prompt(client, TOOLS)
        system_only, (sys_id,) = team.new_prompt(client, {"messages": [{"role": "system", "content": "x"}]})
        nested, _ = team.new_prompt(client)
        nested_push = _push(client, nested, {"messages": [], "examples": {"prompt": examples, "version": ex_id}})
        assert nested_push.status_code == 201, nested_push.text
        nested_id = nested_push.json()["id"]
        name, _ = team.new_prompt(client)
        base: dict[str, Any] = {"messages": [{"role": "system", "content": "s"}], "model": "gpt"}
        cases = [
            ({"examples": {"prompt": examples, "version": "0" * 64}}, "examples"),  # no such version
            ({"examples": {"prompt": "nope", "version": ex_id}}, "examples"),  # no such prompt
            ({"examples": {"prompt": system_only, "version": sys_id}}, "examples"),  # not user/assistant only
            ({"examples": {"prompt": nested, "version": nested_id}}, "examples"),  # an artifact with artifacts
            ({"tools": {"prompt": examples, "version": ex_id}}, "tools"),  # no tools in it
            ({"tools": {"prompt": tools, "version": tools_id}, "params": {"tools": [TOOL]}}, "params.tools"),
        ]
        for extra, param in cases:
            refused = _push(client, name, {**base, **extra})
            assert refused.status_code == 400, (extra, refused.text)
            assert refused.json()["error"]["param"] == param, refused.text
        for junk in ({"prompt": examples}, {"prompt": "a b", "version": ex_id}, "x"):
            refused = _push(client, name, {**base, "examples": junk})
            assert refused.status_code == 400, refused.text
