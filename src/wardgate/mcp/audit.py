"""The MCP audit stage: every ``tools/call``, ``resources/read`` and ``prompts/get`` becomes one entry in the
hash-chained audit trail (through the batched writer: no write on the request path)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from time import perf_counter
from typing import Any

import orjson

from wardgate.core.batching import BatchWriter
from wardgate.core.call import Call, Result
from wardgate.core.errors import WardgateError
from wardgate.core.principal import Principal
from wardgate.store.audit import AuditEntry

NANO = Decimal(1_000_000_000)


def actor_of(principal: Principal) -> str:
    return "master" if principal.kind == "master" else f"{principal.kind}:{principal.id}"


def digest(arguments: Any) -> str:
    return hashlib.sha256(orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)).hexdigest()


def outcome_of(error: BaseException | None, result: Result | None) -> tuple[str, int, str | None]:
    if error is None:
        if result is not None and result.status >= 400:  # a later stage refused the answer (a guard blocked it)
            code = result.body.get("error", {}).get("code") if isinstance(result.body.get("error"), dict) else None
            return "refused", result.status, code if isinstance(code, str) else None
        failed = result is not None and result.raw is None and bool(result.body.get("isError"))
        return ("tool_error" if failed else "ok"), 200, None
    if isinstance(error, WardgateError):
        if error.code == "cancelled":  # the client's notifications/cancelled (backchannel.py)
            return "cancelled", error.status, error.code
        kind = "refused" if error.status in (401, 403, 429) else "failed"
        return kind, error.status, error.code or error.type
    return "failed", 500, type(error).__name__


class MCPAuditStage:
    """Entered first, so its after hook runs last and sees refusals by later stages too."""

    name = "mcp_audit"

    def __init__(self, audit: BatchWriter[AuditEntry], with_arguments: bool) -> None:
        self._audit = audit
        self._with_arguments = with_arguments

    async def before(self, call: Call) -> Result | None:
        return None

    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        principal = call.principal
        if principal is None:
            return
        outcome, status, code = outcome_of(error, result)
        arguments = call.body.get("arguments")
        details: dict[str, Any] = {
            "request_id": call.id,
            "virtual_server": call.body.get("virtual_server"),
            "server": call.body.get("server"),
            "name": call.model,
            "arguments_sha256": digest(arguments),
            "outcome": outcome,
            "status": status,
            "duration_ms": round((perf_counter() - call.started) * 1000),
            "cost_usd": str(Decimal(call.fixed_cost_nanousd or 0) / NANO) if error is None else "0",
        }
        if code is not None:
            details["error_code"] = code
        if self._with_arguments:
            details["arguments"] = arguments
        target = f"{call.body.get('virtual_server')}/{call.model}"
        self._audit.put(AuditEntry(actor_of(principal), f"mcp.{call.operation}", target, details, datetime.now(UTC)))
