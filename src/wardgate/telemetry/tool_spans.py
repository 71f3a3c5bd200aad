"""An MCP request's spans (tools/call, resources/read, prompts/get through a virtual server), after the OpenTelemetry
MCP and GenAI conventions: a SERVER span named ``{mcp.method.name} {target}`` (the tool's canonical name for a
tools/call, with ``gen_ai.operation.name`` ``execute_tool`` and ``gen_ai.tool.name``), and a CLIENT child span for the
upstream call the virtual server made (``VirtualServer.execute`` reports it through ``CallTrace.step``). Every name
in them comes from the config or the upstreams' catalogs: a tool the caller named but the catalog does not hold never
reaches the pipeline."""

from __future__ import annotations

from typing import Any

from opentelemetry.semconv._incubating.attributes import mcp_attributes

from wardgate.core.call import Call
from wardgate.telemetry import semconv

METHOD_NAME = mcp_attributes.MCP_METHOD_NAME


def root_name(call: Call) -> str:
    return f"{call.operation} {call.tool}" if call.tool is not None else call.operation


def shape(call: Call, status: int, error_type: str | None) -> tuple[Any, ...]:
    principal = call.principal
    who = (principal.project, principal.team, principal.user) if principal is not None else None
    return (
        "mcp",
        call.operation,
        call.tool,
        call.body.get("virtual_server"),
        call.body.get("server"),
        status,
        error_type,
        who,
    )


def shared_attributes(call: Call, status: int, error_type: str | None) -> dict[str, Any]:
    """The MCP request span's attributes that depend only on its shape (cached by the stage under ``shape``)."""
    attributes: dict[str, Any] = {
        METHOD_NAME: call.operation,
        "wardgate.surface": call.surface,
        "wardgate.virtual_server": call.body.get("virtual_server"),
        "wardgate.mcp_server": call.body.get("server"),
        "http.response.status_code": status,
    }
    if call.operation == "tools/call" and call.tool is not None:
        attributes[semconv.OPERATION_NAME] = semconv.EXECUTE_TOOL
        attributes[semconv.TOOL_NAME] = call.tool
    principal = call.principal
    if principal is not None:
        for key, value in (("project", principal.project), ("team", principal.team), ("user", principal.user)):
            if value is not None:
                attributes[f"wardgate.{key}"] = value
    if error_type is not None:
        attributes[semconv.ERROR_TYPE] = error_type
    return {k: v for k, v in attributes.items() if v is not None}
