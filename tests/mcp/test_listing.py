"""Paged, filtered listing of tools, resources, resource templates and prompts: signed cursors, the virtual
server's ``resources`` and ``prompts`` globs, and the promise that what is listed is exactly what can be read or
got (a property over random filters, and end to end through a gateway)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from time import perf_counter
from types import SimpleNamespace
from typing import Any

import mcp_types as types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.shared.exceptions import MCPError

from tests.mcp.client import mcp_session
from tests.mcp.test_governance import rows
from tests.mcp.upstream import LoopbackMCP
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.config.mcp import MCPConfig, ToolFilter, VirtualServerConfig
from wardgate.core.call import Call, Result
from wardgate.core.pipeline import Pipeline
from wardgate.core.principal import Principal
from wardgate.mcp.errors import SCOPE_KEY
from wardgate.mcp.federation import ResourcesAndPrompts
from wardgate.mcp.listing import Cursors, template_matches
from wardgate.mcp.policy import ToolPolicies, ToolPolicyStage
from wardgate.store.tables import audit_log

# -- cursors ------------------------------------------------------------------------------------------------------


def test_a_cursor_pages_through_the_list_and_the_last_page_has_none() -> None:
    cursors, items = Cursors("k"), list(range(5))
    pages, cursor = [], None
    while True:
        page, cursor = cursors.page(items, cursor, "tools/list", "dev", 2)
        pages.append(page)
        if cursor is None:
            break
    assert pages == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"),  # the signature altered
        lambda c: "eyJrIjoidG9vbHMvbGlzdCIsInYiOiJkZXYiLCJvIjowfQ." + c.split(".")[1],  # another body
        lambda c: "x" * 100_000,
        lambda c: "",
        lambda c: "é.é",
        lambda c: Cursors("another master key").mint("tools/list", "dev", 2),
        lambda c: Cursors("k").mint("prompts/list", "dev", 2),  # another list
        lambda c: Cursors("k").mint("tools/list", "prod", 2),  # another virtual server
        lambda c: Cursors("k").mint("tools/list", "dev", -1),
    ],
)
def test_a_forged_or_foreign_cursor_is_invalid_params(tamper: Any) -> None:
    cursors = Cursors("k")
    good = cursors.mint("tools/list", "dev", 2)
    with pytest.raises(MCPError) as caught:
        cursors.page(list(range(5)), tamper(good), "tools/list", "dev", 2)
    assert caught.value.error.code == -32602


@pytest.mark.parametrize(
    "template, uri, matches",
    [
        ("test://items/{id}", "test://items/42", True),
        ("test://items/{id}", "test://items/4/2", False),
        ("test://items/{id}", "test://other/42", False),
        ("file:///{+path}", "file:///a/b/c", True),
        ("file:///data{/name}", "file:///data/x", True),
        ("search://q{?term,page}", "search://q?term=a&page=2", True),
        ("doc://{a}.{b}", "doc://x.y", True),
        ("doc://x{.ext}", "doc://x" + ".a" * 5000 + "/", False),  # no catastrophic backtracking
    ],
)
def test_uri_templates_match_the_uris_they_expand_to(template: str, uri: str, matches: bool) -> None:
    assert template_matches(template, uri) is matches


# -- listed == gettable, as a property over random filters ------------------------------------------------------

LISTS: dict[str, dict[str, list[Any]]] = {
    "gh": {
        "resources": [types.Resource(uri=u, name=u) for u in ("test://a", "test://b", "file:///x")],
        "templates": [types.ResourceTemplate(uri_template="test://items/{id}", name="items")],
        "prompts": [types.Prompt(name=n) for n in ("greet", "summarize")],
    },
    "fs": {
        "resources": [types.Resource(uri=u, name=u) for u in ("file:///data/1", "test://a")],
        "templates": [types.ResourceTemplate(uri_template="file:///data/{name}", name="data")],
        "prompts": [types.Prompt(name=n) for n in ("greet", "read")],
    },
}
URIS = ["test://a", "test://b", "file:///x", "file:///data/1", "file:///data/zz", "test://items/7", "nope://1", "x"]
PROMPTS = [f"{s}{sep}{p}" for s in ("gh", "fs") for sep in (".", "__") for p in ("greet", "summarize", "read")]
PROMPTS += ["greet", "summarize", "read", "gh.", "zz.greet"]
GLOBS = ["*", "gh.*", "fs.*", "*test://*", "*file:///data/*", "*.greet", "gh.test://a", "*items*", "none"]


class FakeUpstream:
    def __init__(self, server: str, asked: list[str] | None = None) -> None:
        self.name, self.lists, self.asked = server, LISTS[server], asked if asked is not None else []

    async def request(self, method: str, call: Any) -> None:
        self.asked.append(f"{self.name} {method}")

    async def list_all(self, kind: str, max_age_s: float) -> tuple[Any, ...]:
        return tuple(self.lists[kind])


async def answer(call: Call) -> Result:
    if call.operation == "resources/read":
        return Result.of({"contents": [{"uri": call.body["uri"], "text": "x"}]})
    return Result.of({"messages": []})


def make_call(principal: Principal, operation: Any, name: str, server: str, body: dict[str, Any]) -> Call:
    return Call("id", "mcp", operation, name, body, False, None, perf_counter(), principal=principal)


filters = st.builds(
    ToolFilter,
    include=st.lists(st.sampled_from(GLOBS), min_size=1, max_size=3).map(tuple),
    exclude=st.lists(st.sampled_from(GLOBS), max_size=2).map(tuple),
)


async def listed_and_gettable(config: VirtualServerConfig, size: int) -> tuple[set[str], ...]:
    mcp = MCPConfig(list_page_size=size)
    pipeline = Pipeline([ToolPolicyStage(ToolPolicies([]))], answer)
    upstreams: Any = {s: FakeUpstream(s) for s in config.servers}
    rp = ResourcesAndPrompts("dev", config, mcp, upstreams, Cursors("k"), pipeline.run, make_call)
    ctx: Any = SimpleNamespace(request=SimpleNamespace(scope={SCOPE_KEY: Principal(kind="master", id="m")}))

    async def every(method: Any, field: str) -> list[Any]:
        out, cursor = [], None
        while True:
            page = await method(ctx, types.PaginatedRequestParams(cursor=cursor) if cursor else None)
            assert len(getattr(page, field)) <= size
            out.extend(getattr(page, field))
            cursor = page.next_cursor
            if cursor is None:
                return out

    resources = {str(r.uri) for r in await every(rp.list_resources, "resources")}
    templates = [t.uri_template for t in await every(rp.list_templates, "resource_templates")]
    prompts = {p.name for p in await every(rp.list_prompts, "prompts")}
    readable, gettable = set(), set()
    for uri in URIS:
        try:
            await rp.read_resource(ctx, types.ReadResourceRequestParams(uri=uri))
            readable.add(uri)
        except MCPError as exc:
            assert exc.error.code == -32002
    for name in PROMPTS:
        try:
            await rp.get_prompt(ctx, types.GetPromptRequestParams(name=name))
            gettable.add(name)
        except MCPError as exc:
            assert exc.error.code == -32602
    by_template = {u for u in URIS if any(template_matches(t, u) for t in templates)}
    return resources, by_template, readable, prompts, gettable


@settings(max_examples=60, deadline=None)
@given(
    filters,
    filters,
    st.sampled_from([("gh",), ("fs",), ("gh", "fs"), ("fs", "gh")]),
    st.booleans(),
    st.sampled_from([".", "__"]),
    st.integers(1, 4),
)
def test_what_is_listed_is_exactly_what_can_be_read_or_got(
    resources: ToolFilter, prompts: ToolFilter, servers: tuple[str, ...], prefix: bool, separator: Any, size: int
) -> None:
    config = VirtualServerConfig(
        servers=servers, resources=resources, prompts=prompts, prefix=prefix, separator=separator
    )
    listed, by_template, readable, listed_prompts, gettable = asyncio.run(listed_and_gettable(config, size))
    assert readable == {u for u in URIS if u in listed or u in by_template}
    assert gettable == listed_prompts


def test_a_subscription_goes_to_the_member_that_lists_or_exposes_the_uri() -> None:
    async def go(resources: ToolFilter, uri: str) -> list[Any]:
        asked: list[str] = []
        upstreams: Any = {s: FakeUpstream(s, asked) for s in ("gh", "fs")}
        config = VirtualServerConfig(servers=("gh", "fs"), resources=resources)
        rp = ResourcesAndPrompts("dev", config, MCPConfig(), upstreams, Cursors("k"), answer, make_call)
        ctx: Any = SimpleNamespace(request=SimpleNamespace(scope={SCOPE_KEY: Principal(kind="master", id="m")}))
        try:
            await rp.subscribe(ctx, types.SubscribeRequestParams(uri=uri))
        except MCPError as exc:
            return [exc.error.code]
        return asked

    only_fs = ToolFilter(include=("fs.*",))
    assert asyncio.run(go(ToolFilter(), "test://a")) == ["gh forward"]  # listed by both: the first member's
    assert asyncio.run(go(only_fs, "test://a")) == ["fs forward"]
    assert asyncio.run(go(only_fs, "test://not-listed-yet")) == ["fs forward"]
    assert asyncio.run(go(ToolFilter(exclude=("*",)), "test://a")) == [-32002]


# -- end to end ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway() -> Iterator[RunningGateway]:
    with LoopbackMCP("streamable_http", "gh") as gh, LoopbackMCP("streamable_http", "other") as other:
        text = f"""
mcp:
  servers:
    gh: {{transport: streamable_http, url: "{gh.url}"}}
    other: {{transport: streamable_http, url: "{other.url}"}}
  virtual_servers:
    paged:
      servers: [gh, other]
      tools: {{include: ["gh.echo", "gh.add", "other.echo"]}}
      prompts: {{exclude: ["other.*"]}}
    hidden: {{servers: [gh], resources: {{exclude: ["*"]}}}}
  list_page_size: 1
"""
        with gateway_from_yaml(text) as gw:
            yield gw


def test_lists_are_paged_and_filtered_through_the_gateway(gateway: RunningGateway) -> None:
    async def go() -> tuple[list[list[str]], list[str], list[int]]:
        async with mcp_session(gateway.root + "/mcp/paged", MASTER_KEY) as s:
            pages, cursor = [], None
            while True:
                page = await s.list_tools(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
                pages.append([t.name for t in page.tools])
                cursor = page.next_cursor
                if cursor is None:
                    break
            prompts = [p.name for p in (await s.list_prompts()).prompts]
            codes = []
            for bad in ("garbage", pages and (await s.list_tools()).next_cursor):
                try:
                    await s.list_prompts(params=types.PaginatedRequestParams(cursor=bad))
                except MCPError as exc:
                    codes.append(exc.error.code)
            return pages, prompts, codes

    pages, prompts, codes = asyncio.run(go())
    assert pages == [["gh.echo"], ["gh.add"], ["other.echo"]]
    assert prompts == ["gh.greet"]
    assert codes == [-32602, -32602]  # garbage, and the tools list's cursor offered to prompts/list


def test_reading_or_getting_what_is_not_listed_is_refused_and_audited(gateway: RunningGateway) -> None:
    async def go() -> list[Any]:
        out: list[Any] = []
        async with mcp_session(gateway.root + "/mcp/hidden", MASTER_KEY) as s:
            out.append([str(r.uri) for r in (await s.list_resources()).resources])
            try:
                await s.read_resource("test://greeting")
            except MCPError as exc:
                out.append(exc.error.code)
        async with mcp_session(gateway.root + "/mcp/paged", MASTER_KEY) as s:
            try:
                await s.get_prompt("other.greet", {"who": "x"})
            except MCPError as exc:
                out.append(exc.error.code)
            got = await s.get_prompt("gh.greet", {"who": "Ada"})
            out.append(len(got.messages))
        return out

    assert asyncio.run(go()) == [[], -32002, -32602, 1]
    audit = {(r["action"], r["target"]): r["details"] for r in gateway.run(rows(gateway, audit_log))}
    read = audit[("mcp.resources/read", "hidden/test://greeting")]
    got = audit[("mcp.prompts/get", "paged/other.greet")]
    assert read["outcome"] == "refused" and read["error_code"] == "not_listed"
    assert got["outcome"] == "refused" and got["error_code"] == "not_listed"
    assert audit[("mcp.prompts/get", "paged/gh.greet")]["outcome"] == "ok"
