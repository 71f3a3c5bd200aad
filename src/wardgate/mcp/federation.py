"""A virtual server's resources, resource templates and prompts: the member upstreams' full lists (every page),
filtered by the virtual server's ``resources`` and ``prompts`` globs, paged with signed cursors (listing.py).

What is listed is exactly what can be used: ``resources/read`` of a URI that no exposed resource has and no
exposed template matches, and ``prompts/get`` of a prompt that is not listed, are refused — through the
governance pipeline, so the refusal is audited and in the ledger like a refused ``tools/call``. Tool policies name
tools; they do not filter resources or prompts (docs/mcp.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from wardgate.config.mcp import MCPConfig, VirtualServerConfig
from wardgate.core.call import Call, Operation, Result
from wardgate.core.errors import WardgateError
from wardgate.core.principal import Principal
from wardgate.mcp.errors import INVALID_PARAMS, UPSTREAM, answer_of, json_rpc_error, principal_of
from wardgate.mcp.listing import Cursors, template_matches
from wardgate.mcp.naming import canonical, exposed, listed_name
from wardgate.mcp.policy import NotListed
from wardgate.mcp.upstream import ListKind, Upstream, UpstreamUnavailable

RESOURCE_NOT_FOUND = -32002  # the MCP spec's code for a resource that does not exist
RECHECK_S = 1.0  # a name not in the cached lists: the lists are asked again, at most this often
MakeCall = Callable[[Principal, Operation, str, str, dict[str, Any]], Call]


class ResourcesAndPrompts:
    def __init__(
        self,
        name: str,
        config: VirtualServerConfig,
        mcp: MCPConfig,
        upstreams: dict[str, Upstream],
        cursors: Cursors,
        run: Callable[[Call], Awaitable[Result]],
        make_call: MakeCall,
    ) -> None:
        self.name, self.config, self._mcp = name, config, mcp
        self._upstreams, self._cursors, self._run, self._make_call = upstreams, cursors, run, make_call

    # -- what is exposed -----------------------------------------------------------------------------------------

    def _key(self, kind: ListKind, server: str, item: Any) -> str:
        """The item's identity in the merged list (the first server to list it owns it)."""
        if kind == "resources":
            return str(item.uri)
        if kind == "templates":
            return str(item.uri_template)
        return listed_name(self.config, server, item.name)

    def _exposed(self, kind: ListKind, server: str, item: Any) -> bool:
        if kind == "prompts":
            return exposed(self.config.prompts, canonical(server, item.name))
        return exposed(self.config.resources, canonical(server, self._key(kind, server, item)))

    async def items(self, kind: ListKind, max_age_s: float | None = None) -> list[tuple[str, Any]]:
        """(server, item) of every exposed item, in member order, each key once; an unreachable upstream
        contributes nothing."""
        age = self._mcp.tools_cache_s if max_age_s is None else max_age_s
        out: list[tuple[str, Any]] = []
        seen: set[str] = set()
        for server, upstream in self._upstreams.items():
            try:
                items = await upstream.list_all(kind, age)
            except (UpstreamUnavailable, MCPError):
                continue
            for item in items:
                key = self._key(kind, server, item)
                if key not in seen and self._exposed(kind, server, item):
                    seen.add(key)
                    out.append((server, item))
        return out

    async def _find(self, kind: ListKind, match: Callable[[str, Any], bool]) -> tuple[str, Any] | None:
        for age in (None, RECHECK_S):  # the cached lists, then (a miss) lists at most RECHECK_S old
            for server, item in await self.items(kind, age):
                if match(server, item):
                    return server, item
        return None

    async def resource_owner(self, uri: str) -> str | None:
        found = await self._find("resources", lambda _, r: str(r.uri) == uri)
        if found is None:
            found = await self._find("templates", lambda _, t: template_matches(str(t.uri_template), uri))
        return found[0] if found is not None else None

    async def prompt_of(self, listed: str) -> tuple[str, str] | None:
        found = await self._find("prompts", lambda s, p: listed_name(self.config, s, p.name) == listed)
        return (found[0], found[1].name) if found is not None else None

    # -- handlers --------------------------------------------------------------------------------------------

    def _page(self, method: str, items: list[Any], params: Any) -> tuple[list[Any], str | None]:
        cursor = params.cursor if params is not None else None
        return self._cursors.page(items, cursor, method, self.name, self._mcp.list_page_size)

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        principal_of(ctx)
        items = [r for _, r in await self.items("resources")]
        page, following = self._page("resources/list", items, params)
        return types.ListResourcesResult(resources=page, next_cursor=following)

    async def list_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        principal_of(ctx)
        items = [t for _, t in await self.items("templates")]
        page, following = self._page("resources/templates/list", items, params)
        return types.ListResourceTemplatesResult(resource_templates=page, next_cursor=following)

    async def list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        principal_of(ctx)
        items = [
            p.model_copy(update={"name": listed_name(self.config, s, p.name)}) for s, p in await self.items("prompts")
        ]
        page, following = self._page("prompts/list", items, params)
        return types.ListPromptsResult(prompts=page, next_cursor=following)

    async def _governed(self, call: Call, not_listed: MCPError) -> dict[str, Any]:
        try:
            return answer_of(await self._run(call))
        except NotListed:
            raise not_listed from None
        except WardgateError as exc:
            raise json_rpc_error(exc) from None

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        principal = principal_of(ctx)
        uri = str(params.uri)
        server = await self.resource_owner(uri)
        body: dict[str, Any] = {"uri": uri} if server is not None else {"uri": uri, "listed": False}
        call = self._make_call(principal, "resources/read", uri[:200], server or "", body)
        answer = await self._governed(call, MCPError(RESOURCE_NOT_FOUND, f"Resource not found: {uri[:200]}"))
        return types.ReadResourceResult.model_validate(answer)

    async def get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        principal = principal_of(ctx)
        found = await self.prompt_of(params.name)
        server, prompt = found if found is not None else ("", params.name[:200])
        body: dict[str, Any] = {"prompt": prompt, "arguments": params.arguments}
        if found is None:
            body["listed"] = False
        name = canonical(server, prompt) if found is not None else prompt  # unlisted: the name as asked
        call = self._make_call(principal, "prompts/get", name, server, body)
        answer = await self._governed(call, MCPError(INVALID_PARAMS, f"Unknown prompt: {params.name[:200]}"))
        return types.GetPromptResult.model_validate(answer)

    async def _owned(self, uri: str) -> Upstream:
        """Who takes a subscription: the member that lists the URI, else the first whose ``resources`` globs expose
        it (a subscription reads nothing, and a server may notify about a resource it does not list yet)."""
        server = await self.resource_owner(uri)
        if server is None:
            server = next((s for s in self._upstreams if exposed(self.config.resources, canonical(s, uri))), None)
        if server is None:
            raise MCPError(RESOURCE_NOT_FOUND, f"Resource not found: {uri[:200]}")
        return self._upstreams[server]

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        principal_of(ctx)
        uri = str(params.uri)
        await _forward(await self._owned(uri), lambda s: s.subscribe_resource(uri))
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        principal_of(ctx)
        uri = str(params.uri)
        await _forward(await self._owned(uri), lambda s: s.unsubscribe_resource(uri))
        return types.EmptyResult()

    async def complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        """Argument completion, asked of the member server that owns the listed prompt or resource template."""
        principal_of(ctx)
        ref: types.PromptReference | types.ResourceTemplateReference = params.ref
        if isinstance(ref, types.PromptReference):
            prompt = await self.prompt_of(ref.name)
            if prompt is None:
                raise MCPError(INVALID_PARAMS, f"Unknown prompt: {ref.name[:200]}")
            server = prompt[0]
            ref = ref.model_copy(update={"name": prompt[1]})
        else:
            uri = ref.uri
            template = await self._find("templates", lambda _, t: str(t.uri_template) == uri)
            if template is None:
                raise MCPError(INVALID_PARAMS, f"Unknown resource template: {uri[:200]}")
            server = template[0]
        argument = {"name": params.argument.name, "value": params.argument.value}
        context = params.context.arguments if params.context is not None else None
        try:
            result: types.CompleteResult = await self._upstreams[server].request(
                "completion/complete", lambda s: s.complete(ref, argument, context)
            )
        except UpstreamUnavailable as exc:
            raise MCPError(UPSTREAM, str(exc)) from None
        return result

    async def set_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        principal_of(ctx)
        for upstream in self._upstreams.values():
            with contextlib.suppress(UpstreamUnavailable, MCPError):  # an upstream without logging: nothing to set
                await upstream.request("logging/setLevel", lambda s: s.set_logging_level(params.level))
        return types.EmptyResult()


async def _forward(upstream: Upstream, request: Any) -> None:
    try:
        await upstream.request("forward", request)
    except UpstreamUnavailable as exc:
        raise MCPError(UPSTREAM, str(exc)) from None
