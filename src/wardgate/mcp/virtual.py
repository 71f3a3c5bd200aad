"""One virtual MCP server: the SDK's low-level ``Server`` whose handlers federate the member upstreams' tools
(here), resources and prompts (federation.py), filtered by the virtual server's globs and (tools) the caller's tool
policies, with every ``tools/call``, ``resources/read`` and ``prompts/get`` run through the governance pipeline
(audit, ledger, policy, limits)."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from time import perf_counter
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as ga

from wardgate.config.mcp import MCPConfig, VirtualServerConfig
from wardgate.core.call import Call, Operation, Result
from wardgate.core.errors import WardgateError
from wardgate.core.ids import new_request_id
from wardgate.core.pipeline import Pipeline, Stage
from wardgate.core.principal import Principal
from wardgate.mcp import sdk_stream
from wardgate.mcp.audit import actor_of
from wardgate.mcp.backchannel import Backchannel, CallCancelled, Downstream
from wardgate.mcp.errors import (
    UPSTREAM,
    UpstreamFailed,
    UpstreamTimeout,
    answer_of,
    json_rpc_error,
    principal_of,
)
from wardgate.mcp.federation import ResourcesAndPrompts
from wardgate.mcp.listing import Cursors
from wardgate.mcp.naming import canonical, exposed, listed_name
from wardgate.mcp.policy import ToolPolicies
from wardgate.mcp.upstream import Upstream, UpstreamUnavailable

log = logging.getLogger("wardgate.mcp")
NANO = Decimal(1_000_000_000)
_OPERATION, _TOOL_NAME = ga.GEN_AI_OPERATION_NAME, ga.GEN_AI_TOOL_NAME  # the upstream call's span (telemetry)
_EXECUTE_TOOL = ga.GenAiOperationNameValues.EXECUTE_TOOL.value


@dataclass(frozen=True, slots=True)
class ToolRef:
    server: str
    tool: str
    canonical: str


class VirtualServer:
    def __init__(
        self,
        name: str,
        config: VirtualServerConfig,
        mcp: MCPConfig,
        upstreams: dict[str, Upstream],
        policies: ToolPolicies,
        stages: Sequence[Stage],
        cursors: Cursors,
        backchannel: Backchannel | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._mcp = mcp
        self._upstreams = {s: upstreams[s] for s in config.servers}
        self._policies = policies
        self._pipeline = Pipeline(stages, self.execute)
        self._cursors = cursors
        self.federated = ResourcesAndPrompts(
            name, config, mcp, self._upstreams, cursors, self._pipeline.run, self._call
        )
        rp = self.federated
        self._names: dict[str, ToolRef] = {}  # listed tool name → the tool (built from the cached catalog)
        self._names_until = 0.0  # the event loop's time until which the map is reused
        self._downstream: dict[str, Downstream] = {}  # call id → its downstream client (calls in flight)
        self._backchannel = backchannel or Backchannel()
        with warnings.catch_warnings():  # logging is deprecated in the newest spec; clients of older ones use it
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            self.server: Server[Any] = Server(
                f"wardgate/{name}",
                version="1",
                on_list_tools=self._list_tools,
                on_call_tool=self._call_tool,
                on_list_resources=rp.list_resources,
                on_read_resource=rp.read_resource,
                on_subscribe_resource=rp.subscribe,
                on_unsubscribe_resource=rp.unsubscribe,
                on_list_prompts=rp.list_prompts,
                on_get_prompt=rp.get_prompt,
                on_set_logging_level=rp.set_level,
                on_list_resource_templates=rp.list_templates,
                on_completion=rp.complete,
            )

    @property
    def members(self) -> dict[str, Upstream]:
        return self._upstreams

    def describe(self) -> dict[str, Any]:
        config = self.config
        return {
            "name": self.name,
            "servers": list(config.servers),
            "include": list(config.tools.include),
            "exclude": list(config.tools.exclude),
            "resources": config.resources.model_dump(mode="json"),
            "prompts": config.prompts.model_dump(mode="json"),
            "prefix": config.prefix,
            "separator": config.separator,
            "endpoints": {"streamable_http": f"/mcp/{self.name}", "sse": f"/mcp/{self.name}/sse"},
        }

    # -- tools ----------------------------------------------------------------------------------------------

    async def catalog(self) -> list[tuple[str, types.Tool]]:
        """(server, tool) for every tool of the member upstreams the virtual server exposes; an unreachable
        upstream contributes nothing (and is logged by its supervisor)."""
        out: list[tuple[str, types.Tool]] = []
        for server, upstream in self._upstreams.items():
            try:
                tools = await upstream.list_tools(self._mcp.tools_cache_s)
            except (UpstreamUnavailable, MCPError) as exc:
                log.debug("tools/list: %s skipped (%s)", server, exc)
                continue
            out.extend((server, tool) for tool in tools if exposed(self.config.tools, canonical(server, tool.name)))
        return out

    def visible(self, principal: Principal, server: str, tool: str) -> bool:
        return self._policies.allows(principal, canonical(server, tool))

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = principal_of(ctx)
        tools = [
            tool.model_copy(update={"name": listed_name(self.config, server, tool.name)})
            for server, tool in await self.catalog()
            if self.visible(principal, server, tool.name)
        ]
        cursor = params.cursor if params is not None else None
        page, following = self._cursors.page(tools, cursor, "tools/list", self.name, self._mcp.list_page_size)
        return types.ListToolsResult(tools=page, next_cursor=following)

    async def _resolve(self, listed: str) -> ToolRef | None:
        """The exposed upstream tool a listed name stands for: a map built from the catalog (cached upstream tool
        lists) and kept as long as they are, so a call does no upstream round trip and no glob matching."""
        now = asyncio.get_running_loop().time()
        if now >= self._names_until:
            names: dict[str, ToolRef] = {}
            catalog = await self.catalog()
            for server, tool in catalog:
                names.setdefault(
                    listed_name(self.config, server, tool.name),
                    ToolRef(server, tool.name, canonical(server, tool.name)),
                )
            self._names = names
            # an upstream that was down contributes nothing yet: look again on the next call, not after the TTL
            complete = all(u.healthy for u in self._upstreams.values())
            self._names_until = now + self._mcp.tools_cache_s if complete else now
        return self._names.get(listed)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        principal = principal_of(ctx)
        token = ctx.meta.get("progress_token") if ctx.meta else None
        session, caps = sdk_stream.session_of(ctx) or ("", "")
        down = Downstream(actor_of(principal), session, ctx.request_id, caps, sdk_stream.sender(ctx), token)
        try:
            result = await self.call_tool(principal, params.name, params.arguments, down)
        except CallCancelled:
            sdk_stream.silence(ctx)  # a cancelled request is not answered
            raise MCPError(UPSTREAM, "The call was cancelled.") from None
        return types.CallToolResult.model_validate(result)

    async def call_tool(
        self, principal: Principal, name: str, arguments: dict[str, Any] | None, down: Downstream | None = None
    ) -> dict[str, Any]:
        """One governed tools/call: the result as JSON (an error result for a tool-level failure); a refusal or the
        upstream's own JSON-RPC error raises MCPError, a cancellation by the client CallCancelled. ``down`` is the
        call's downstream client (what the upstream asks and tells it, and its cancellation: backchannel.py)."""
        ref = await self._resolve(name)
        if ref is None:  # hidden and unknown tools are indistinguishable: a caller learns nothing it may not list
            # an error result, as the SDK's servers answer an unknown tool
            return {"content": [{"type": "text", "text": f"Unknown tool: {name[:200]}"}], "isError": True}
        config = self._mcp.tools.get(ref.canonical)
        call = self._call(principal, "tools/call", ref.canonical, ref.server, {"arguments": arguments})
        call.tool = ref.canonical
        call.fixed_cost_nanousd = int((config.price_usd if config else Decimal(0)) * NANO)
        if down is not None:
            down.backchannel = self._backchannel
            self._downstream[call.id] = down
            self._backchannel.track(down)
        try:
            result = await self._pipeline.run(call)
        except (UpstreamTimeout, UpstreamFailed) as exc:  # a tool-level failure: an error result, not a protocol one
            return {"content": [{"type": "text", "text": exc.message}], "isError": True}
        except CallCancelled:
            raise
        except WardgateError as exc:
            raise json_rpc_error(exc) from None
        finally:
            if down is not None:
                self._downstream.pop(call.id, None)
                self._backchannel.untrack(down)
        return answer_of(result)

    def _call(self, principal: Principal, operation: Operation, name: str, server: str, body: dict[str, Any]) -> Call:
        body = {**body, "virtual_server": self.name, "server": server}
        call = Call(
            id=new_request_id(),  # the LLM path's ids: time-ordered, no getrandom syscall per call
            surface="mcp",
            operation=operation,
            model=name,
            body=body,
            stream=False,
            credential=None,
            started=perf_counter(),
            principal=principal,
        )
        call.ledger_details = {"mcp": {"virtual_server": self.name, "server": server}}
        return call

    async def execute(self, call: Call) -> Result:
        """The pipeline's terminal: the upstream request itself."""
        server = call.body["server"]
        upstream = self._upstreams[server]
        try:
            if call.operation == "tools/call":
                assert call.tool is not None
                config = self._mcp.tools.get(call.tool)
                timeout = config.timeout_s if config else self._mcp.default_timeout_s
                tool = call.tool.split(".", 1)[1]
                began = perf_counter()
                down = self._downstream.get(call.id)
                try:
                    if down is not None:
                        down.started(timeout)
                    answer = await upstream.call_tool_json(tool, call.body.get("arguments"), timeout, down)
                    return Result.of(answer)
                except TimeoutError:
                    raise UpstreamTimeout(f"Tool {call.tool!r} did not answer within {timeout:g} s.") from None
                except asyncio.CancelledError:
                    if down is None or not down.cancelled:
                        raise
                    raise down.taken_back() from None
                finally:
                    if down is not None:
                        down.task = None
                    if call.trace is not None:  # telemetry: the upstream call's span
                        attributes = {_OPERATION: _EXECUTE_TOOL, _TOOL_NAME: call.tool, "wardgate.mcp_server": server}
                        call.trace.step("execute_tool", began, attributes)
            if call.operation == "resources/read":
                uri = call.body["uri"]
                answer = await upstream.request(call.operation, lambda s: s.read_resource(uri))
            else:
                name, arguments = call.body["prompt"], call.body.get("arguments")
                answer = await upstream.request(call.operation, lambda s: s.get_prompt(name, arguments))
        except UpstreamUnavailable as exc:
            raise UpstreamFailed(str(exc)) from None
        except MCPError as exc:  # the upstream's own JSON-RPC error: relayed as it said it
            raise exc
        return Result.of(answer.model_dump(mode="json", by_alias=True, exclude_none=True))
