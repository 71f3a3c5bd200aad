"""Usage from the ledger (aggregates and single requests, limited to the caller's projects) and the audit trail's
integrity check. Money is exact: integer nano-dollars, and the same amount as a USD string with 9 decimals."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import authenticate
from wardgate.api.admin.common import Operation, QueryParam, bad_param, can_see, query, reply, utc
from wardgate.api.admin.schemas import Time, Timestamp, View
from wardgate.assemble import Worker
from wardgate.core.errors import NotFound
from wardgate.store import audit as audit_store
from wardgate.store import usage as usage_store
from wardgate.store.usage import GROUP_KEYS, GroupKey

_KEYS = "|".join(GROUP_KEYS)
GROUP_BY_PATTERN = f"^({_KEYS})(,({_KEYS}))*$"


def usd(nanousd: int) -> str:
    """123456789 → "0.123456789": exact, with no float in between."""
    sign = "-" if nanousd < 0 else ""
    whole, frac = divmod(abs(nanousd), 1_000_000_000)
    return f"{sign}{whole}.{frac:09d}"


class UsageSums(View):
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_nanousd: int = Field(description="cost in nano-dollars (1e-9 USD), exact")
    cost_usd: str = Field(description="the same cost in USD, 9 decimals", pattern=r"^-?\d+\.\d{9}$")


class UsageRow(UsageSums):
    """One group. Only the dimensions asked for in `group_by` are present; null there means "none" (a call made
    with the master key has no project)."""

    project: str | None = None
    team: str | None = None
    user: str | None = None
    key: str | None = None
    model: str | None = None
    deployment: str | None = None
    provider: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    prompt_variant: str | None = None
    day: str | None = None
    month: str | None = None

    @model_serializer(mode="wrap")
    def _only_grouped(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        return {k: v for k, v in data.items() if k not in GROUP_KEYS or k in self.model_fields_set}


class UsageReport(View):
    """Rows per group (none without `group_by`) and the totals over everything the caller may see."""

    object: Literal["usage_report"] = "usage_report"
    from_: Time | None = Field(alias="from")
    to: Time | None
    group_by: list[GroupKey]
    rows: list[UsageRow]
    totals: UsageSums


class UsageRecord(View):
    object: Literal["usage"] = "usage"
    request_id: str = Field(description="the gateway's own id (the x-wardgate-request-id / x-request-id answered)")
    client_request_id: str | None = Field(description="the id the client sent (x-wardgate-request-id, …), if any")
    billable: bool = Field(description="false: refused or failed with nothing consumed; never in sums or chargeback")
    ts: Time
    principal_kind: str
    principal_id: str
    project_id: str | None
    team_id: str | None
    user_id: str | None
    key_id: str | None
    surface: str
    operation: str
    model: str
    deployment: str | None
    provider: str | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_nanousd: int
    cost_usd: str
    latency_ms: int | None
    ttft_ms: int | None
    status: int
    error_code: str | None
    cache_hit: bool
    stream: bool
    details: dict[str, Any] | None


class UsageRecordList(View):
    """The calls a client tagged with its own request id, newest first (at most 100): a client's id is not unique."""

    object: Literal["list"] = "list"
    data: list[UsageRecord]


class AuditVerification(View):
    object: Literal["audit_verification"] = "audit_verification"
    ok: bool
    rows: int = Field(description="rows checked before the first problem (all rows when ok)")
    problem: str | None
    seq: int | None = Field(description="the first bad row's sequence number")
    findings: list[str] = Field(
        default_factory=list, description="every problem: edited, deleted, truncated, re-chained rows, with seqs"
    )


class _Times(BaseModel):
    model_config = ConfigDict(strict=True)
    value: Timestamp


def parse_time(name: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value: AwareDatetime = _Times.model_validate({"value": raw}).value
    except ValidationError:
        raise bad_param(name, "must be an RFC 3339 date-time with a zone, e.g. 2026-11-01T00:00:00Z") from None
    return utc(value, name)


def parse_group_by(raw: str | None) -> list[GroupKey]:
    if raw is None:
        return []
    if not re.fullmatch(GROUP_BY_PATTERN, raw):
        raise bad_param("group_by", f"a comma-separated list of {', '.join(GROUP_KEYS)}")
    keys: list[GroupKey] = []
    for part in raw.split(","):
        for key in GROUP_KEYS:
            if key == part and key not in keys:
                keys.append(key)
    return keys


def _sums(row: dict[str, Any]) -> dict[str, Any]:
    cost = int(row["cost_nanousd"])
    return {
        "requests": int(row["requests"]),
        "input_tokens": int(row["input_tokens"]),
        "output_tokens": int(row["output_tokens"]),
        "cached_tokens": int(row["cached_tokens"]),
        "cache_write_tokens": int(row["cache_write_tokens"]),
        "reasoning_tokens": int(row["reasoning_tokens"]),
        "cost_nanousd": cost,
        "cost_usd": usd(cost),
    }


_MAX_LISTED = 100


CLIENT_ID_PATTERN = "^[!-~]{1,128}$"  # what the surfaces keep of a client's id: visible ASCII, no spaces


def _storable_id(text: str) -> bool:
    """What a stored request id can be; anything else (a NUL byte the database would refuse) matches no row."""
    return re.fullmatch(CLIENT_ID_PATTERN, text) is not None


def record_of(row: dict[str, Any]) -> UsageRecord:
    fields = {k: v for k, v in row.items() if k != "id"}
    return UsageRecord.model_validate({**fields, "cost_usd": usd(int(row["cost_nanousd"]))})


class UsageRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services

    async def report(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        group_by = parse_group_by(query(request, "group_by"))
        start, end = parse_time("from", query(request, "from")), parse_time("to", query(request, "to"))
        visible = actor.visible_projects()
        if (project := query(request, "project")) is not None:
            can_see(actor, project)
            visible = [project]
        engine = self.services.engine
        rows = (
            await usage_store.aggregate(engine, group_by, start=start, end=end, project_ids=visible) if group_by else []
        )
        totals = await usage_store.aggregate(engine, [], start=start, end=end, project_ids=visible)
        report = UsageReport.model_validate(
            {
                "from": start,
                "to": end,
                "group_by": group_by,
                "rows": [{**{k: row[k] for k in group_by}, **_sums(row)} for row in rows],
                "totals": _sums(totals[0]),
            }
        )
        return reply(report)

    async def one(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        request_id = request.path_params["request_id"]
        row = await usage_store.by_request_id(self.services.engine, request_id) if _storable_id(request_id) else None
        visible = actor.visible_projects()
        if row is None or visible is not None and row["project_id"] not in visible:
            raise NotFound(f"no usage recorded for request {request_id!r}")
        return reply(record_of(row))

    async def by_client_id(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        client_request_id = query(request, "client_request_id")
        if client_request_id is None or not _storable_id(client_request_id):
            raise bad_param("client_request_id", "is required: 1–128 visible ASCII characters, as the client sent it")
        rows = await usage_store.by_client_request_id(
            self.services.engine, client_request_id, project_ids=actor.visible_projects(), limit=_MAX_LISTED
        )
        return reply(UsageRecordList(data=[record_of(row) for row in rows]))

    async def verify_audit(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        result = await audit_store.verify(self.services.engine, self.services.audit_log.key)
        findings = [f.describe() for f in result.findings]
        return reply(
            AuditVerification(ok=result.ok, rows=result.rows, problem=result.problem, seq=result.seq, findings=findings)
        )


def operations(services: Worker) -> list[Operation]:
    r = UsageRoutes(services)
    time = {"type": "string", "format": "date-time"}
    params = (
        QueryParam(
            "group_by",
            "comma-separated dimensions: " + ", ".join(GROUP_KEYS),
            {"type": "string", "pattern": GROUP_BY_PATTERN},
        ),
        QueryParam("from", "start of the window, inclusive (RFC 3339)", time),
        QueryParam("to", "end of the window, exclusive (RFC 3339)", time),
        QueryParam("project", "only this project (id)", {"type": "string", "minLength": 1}),
    )
    return [
        Operation(
            "GET",
            "/admin/v1/usage",
            "Usage and cost, grouped; only the caller's projects",
            "usage",
            r.report,
            UsageReport,
            query=params,
            errors=(400, 401, 404),
        ),
        Operation(  # before /usage/{request_id}: the first match serves
            "GET",
            "/admin/v1/usage/requests",
            "The ledger rows a client tagged with its own request id; only the caller's projects",
            "usage",
            r.by_client_id,
            UsageRecordList,
            query=(
                QueryParam(
                    "client_request_id",
                    "the id the client sent (x-wardgate-request-id, x-client-request-id or x-request-id)",
                    {"type": "string", "pattern": CLIENT_ID_PATTERN},
                    required=True,
                ),
            ),
            errors=(400, 401),
        ),
        Operation(  # 400: `/usage/requests` is the route above (a request id is never "requests")
            "GET",
            "/admin/v1/usage/{request_id}",
            "One request's ledger row",
            "usage",
            r.one,
            UsageRecord,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "GET",
            "/admin/v1/audit/verify",
            "Check the audit trail's hash chain (system admin)",
            "audit",
            r.verify_audit,
            AuditVerification,
            errors=(401, 403),
        ),
    ]
