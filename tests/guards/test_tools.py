"""The tools guard: a property test over random policies and identities — no disallowed tool is ever offered
upstream or returned to the client (JSON answers and streams) — and the gateway end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.openai import FakeOpenAI
from tests.guards.helpers import call
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.config.guards import GuardConfig
from wardgate.core.call import Chunk, Result
from wardgate.core.principal import Principal
from wardgate.guards.engine import compile_guards
from wardgate.guards.errors import GuardBlocked
from wardgate.guards.stage import GuardsStage

NAMES = ["search", "search_web", "send_mail", "send_sms", "db_read", "db_write", "shell", "fs_delete"]
GLOBS = NAMES + ["send_*", "db_*", "*", "search*", "*_write", "fs_?elete"]
PROJECTS = ["p1", "p2"]


def allowed(policies: list[dict[str, Any]], project: str, name: str) -> bool:
    for p in policies:
        if p["scope"] == "project" and p["match"] != project:
            continue
        if any(fnmatchcase(name, g) for g in p["deny"]):
            return False
        if p["allow"] is not None and not any(fnmatchcase(name, g) for g in p["allow"]):
            return False
    return True


policy = st.fixed_dictionaries(
    {
        "scope": st.sampled_from(["global", "project"]),
        "match": st.sampled_from(PROJECTS),
        "allow": st.one_of(st.none(), st.lists(st.sampled_from(GLOBS), max_size=3)),
        "deny": st.lists(st.sampled_from(GLOBS), max_size=3),
    }
).filter(lambda p: p["allow"] is not None or p["deny"])


def _stage(policies: list[dict[str, Any]]) -> GuardsStage:
    configs = [
        GuardConfig(
            name=f"t{i}",
            type="tools",
            on="both",
            scope=p["scope"],
            match=p["match"] if p["scope"] == "project" else None,
            allow=p["allow"],
            deny=p["deny"],
        )
        for i, p in enumerate(policies)
    ]
    return GuardsStage(compile_guards(configs), 64, None)


def _tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


def _delta(i: int, name: str) -> dict[str, Any]:
    return {"index": i, "id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": '{"a": 1}'}}


@settings(max_examples=150, deadline=None)
@given(
    policies=st.lists(policy, min_size=1, max_size=3),
    project=st.sampled_from(PROJECTS),
    offered=st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True),
    returned=st.lists(st.sampled_from(NAMES), min_size=1, max_size=3),
)
def test_no_disallowed_tool_is_offered_or_returned(
    policies: list[dict[str, Any]], project: str, offered: list[str], returned: list[str]
) -> None:
    stage = _stage(policies)
    principal = Principal("key", "k1", project=project)
    # upstream: the request's tools after the stage
    c = call({"model": "m", "messages": [{"role": "user", "content": "go"}], "tools": [_tool(n) for n in offered]})
    c.principal = principal
    assert asyncio.run(stage.before(c)) is None
    sent = [t["function"]["name"] for t in c.body.get("tools") or []]
    assert all(allowed(policies, project, n) for n in sent)
    assert sent == [n for n in offered if allowed(policies, project, n)]
    # a streamed answer: tool calls reach the client only when allowed, and never before their verdict
    s = call()
    s.principal = principal
    asyncio.run(stage.before(s))
    chunks = [Chunk({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [_delta(i, n)]}}]})
              for i, n in enumerate(returned)]  # fmt: skip
    chunks.append(Chunk({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}))
    released: list[str] = []
    refused = False
    try:
        for chunk in chunks:
            out = stage.on_chunk(s, chunk)
            if out is not None:
                released += [d["function"]["name"] for d in out.data["choices"][0]["delta"].get("tool_calls") or ()]
    except GuardBlocked:
        refused = True
    assert all(allowed(policies, project, n) for n in released)
    assert refused == (not all(allowed(policies, project, n) for n in returned))
    # a JSON answer
    j = call(stream=False)
    j.principal = principal
    asyncio.run(stage.before(j))
    message = {"role": "assistant", "content": None, "tool_calls": [_delta(i, n) for i, n in enumerate(returned)]}
    result = Result.of({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": message}]})
    asyncio.run(stage.after(j, result, None))
    if all(allowed(policies, project, n) for n in returned):
        assert result.status == 200
    else:
        assert result.status == 400 and result.body["error"]["code"] == "guard_blocked"


@pytest.fixture(scope="module")
def gw() -> Iterator[RunningGateway]:
    with (
        FakeOpenAI(api_key="sk-up").start() as fake,
        gateway_from_yaml(f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  small: [{{provider: up, model: gpt-4o-mini}}]
guards:
  - {{name: no-shell, type: tools, on: both, deny: ["shell", "fs_*"]}}
""") as gateway,
    ):
        gateway.fake = fake  # type: ignore[attr-defined]
        yield gateway


def test_disallowed_tools_are_removed_before_upstream(gw: RunningGateway) -> None:
    fake: FakeOpenAI = gw.fake  # type: ignore[attr-defined]
    fake.reset()
    with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="small",
            messages=[{"role": "user", "content": "list files"}],
            tools=[_tool("search"), _tool("shell")],  # type: ignore[list-item]
        )
    sent = [t["function"]["name"] for t in fake.requests[-1].json["tools"]]
    assert sent == ["search"]
    assert raw.parse().choices[0].message.tool_calls[0].function.name == "search"  # type: ignore[index]
    assert raw.headers["x-wardgate-guards"] == "no-shell=redact"


def test_a_forced_disallowed_tool_is_refused(gw: RunningGateway) -> None:
    with (
        openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as c,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        c.chat.completions.create(
            model="small",
            messages=[{"role": "user", "content": "wipe"}],
            tools=[_tool("fs_delete")],  # type: ignore[list-item]
            tool_choice={"type": "function", "function": {"name": "fs_delete"}},
        )
    assert caught.value.response.json()["error"]["param"] == "no-shell"
