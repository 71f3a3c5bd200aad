"""``/admin/v1/prompts``: managed prompts and their immutable versions (docs/prompts.md). Label moves, approvals,
rollbacks and canaries: prompt_changes.py.

A prompt belongs to a project (``?project=ID`` on every route under its name) or, without one, to the whole
gateway. Reading takes any role on its project (system-wide prompts: a system role); creating prompts and pushing
versions, the member role; moving labels, the admin role.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api import validate
from wardgate.api.admin.auth import AdminActor, authenticate
from wardgate.api.admin.common import Operation, QueryParam, query, read_body, record, reply, require
from wardgate.api.admin.paging import page_ask, page_params, paginate
from wardgate.api.admin.prompt_schemas import (
    ApprovalView,
    CanaryView,
    LabelView,
    PromotionView,
    PromptCreate,
    PromptList,
    PromptView,
    VersionCreate,
    VersionList,
    VersionSummary,
    VersionView,
)
from wardgate.assemble import Worker
from wardgate.core.errors import InvalidRequest, NotFound, WardgateError
from wardgate.prompts.artifacts import ArtifactMissing, check_references, expand
from wardgate.prompts.template import SpecError, check_spec, version_id
from wardgate.store.prompt_reviews import PromotionRow, PromptReviews
from wardgate.store.prompts import SYSTEM, CanaryRow, LabelRow, PromptRow, PromptStore, VersionRow, read_spec
from wardgate.store.tenancy import Role

PROJECT = QueryParam(
    "project", "the owning project's id; absent: a system-wide prompt", {"type": "string", "minLength": 1}
)
ONE = "/admin/v1/prompts/{name}"


def owner_of(request: Request) -> str:
    return query(request, "project") or SYSTEM


def allow(actor: AdminActor, owner: str, role: Role) -> None:
    if owner == SYSTEM:
        actor.require_system(role)
    else:
        require(actor, owner, role)


def target(owner: str, name: str) -> str:
    return f"{owner}/{name}" if owner else name


def required_approvals(services: Worker, label: str) -> int:
    config = services.settings.prompts
    rule = config.protected_labels.get(label) if config is not None else None
    return rule.approvals if rule is not None else 0


async def refresh(services: Worker) -> None:
    """The worker that answered applies a change at once; the others within prompts.refresh_s."""
    if services.prompts is not None:
        await services.prompts.load()


def version_view(row: VersionRow) -> VersionView:
    spec = row.spec
    return VersionView(
        id=row.id,
        number=row.number,
        prompt=row.prompt,
        project=row.project_id or None,
        author=row.author,
        created_at=row.created_at,
        messages=spec["messages"],
        model=spec.get("model"),
        params=spec.get("params") or {},
        variables=spec.get("variables"),
        overrides=spec.get("overrides"),
        type=spec.get("type", "chat"),
        examples=spec.get("examples"),
        tools=spec.get("tools"),
    )


def label_view(services: Worker, row: LabelRow) -> LabelView:
    required = required_approvals(services, row.label)
    return LabelView(
        label=row.label,
        version=row.version,
        previous=row.previous,
        generation=row.generation,
        protected=required > 0,
        approvals_required=required,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def promotion_view(row: PromotionRow) -> PromotionView:
    return PromotionView(
        id=row.id,
        prompt=row.prompt,
        project=row.project_id or None,
        label=row.label,
        version=row.version,
        reason=row.reason,
        requested_by=row.requested_by,
        required=row.required,
        status=row.status,  # type: ignore[arg-type]
        approvals=[ApprovalView(actor=a.actor, decision=a.decision, reason=a.reason, at=a.at) for a in row.approvals],
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


def canary_view(row: CanaryRow, stats: dict[str, Any] | None = None) -> CanaryView:
    return CanaryView(
        id=row.id,
        label=row.label,
        version=row.version,
        percent=row.percent,
        sticky=row.sticky,
        rollback=row.rollback,
        started_by=row.started_by,
        started_at=row.started_at,
        stats=stats,
    )


def _summary(row: PromptRow) -> PromptView:
    return PromptView(
        name=row.name,
        project=row.project_id or None,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
    )


class PromptRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self.store = PromptStore(services.engine)
        self.reviews = PromptReviews(services.engine)

    async def create(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        body = await read_body(request, PromptCreate)
        owner = body.project or SYSTEM
        allow(actor, owner, "member")
        row = await self.store.create(owner, body.name, body.description, actor.id)
        record(self.services, actor, "prompt.create", target(owner, body.name), body.model_dump(mode="json"))
        return reply(_summary(row), 201)

    async def list(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        ask = page_ask(request)
        visible = actor.visible_projects()
        rows = await self.store.list(None if visible is None else [*visible, *([SYSTEM] if actor.system_role else [])])
        page, next_cursor = paginate(rows, lambda r: f"{r.project_id}/{r.name}", ask)
        return reply(PromptList(data=[_summary(r) for r in page], next_cursor=next_cursor))

    async def get(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        owner, name = owner_of(request), request.path_params["name"]
        allow(actor, owner, "viewer")
        view = _summary(await self.store.get(owner, name))
        view.labels = [label_view(self.services, r) for r in await self.store.labels(owner, name)]
        view.versions = [
            VersionSummary(id=v.id, number=v.number, author=v.author, created_at=v.created_at)
            for v in await self.store.versions(owner, name)
        ]
        view.pending = [promotion_view(p) for p in await self.reviews.list(owner, name, "pending")]
        view.canaries = [canary_view(c, await self.stats(c)) for c in await self.store.canaries(owner, name)]
        return reply(view)

    async def stats(self, canary: CanaryRow) -> dict[str, Any] | None:
        watch = self.services.prompt_watch
        if watch is None:
            return None
        return await watch.stats(canary.id, float(canary.rollback.get("window_s", 300.0)))

    async def push(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        owner, name = owner_of(request), request.path_params["name"]
        allow(actor, owner, "member")
        body = await read_body(request, VersionCreate)
        spec = body.model_dump(mode="json", exclude_none=True)
        spec.setdefault("params", {})
        if spec.get("type") == "chat":  # the default: the same content hashes the same with or without it
            del spec["type"]
        _check(await self._expanded(owner, spec))
        vid = version_id(spec)
        row, created = await self.store.push(owner, name, vid, spec, actor.id)
        if created:
            record(
                self.services,
                actor,
                "prompt.version.create",
                target(owner, name),
                {"version": vid, "number": row.number},
            )
        return reply(version_view(row), 201 if created else 200)

    async def _expanded(self, owner: str, spec: dict[str, Any]) -> dict[str, Any]:
        """The content as it will be served: the few-shot set and tool set it references in place."""
        try:
            check_references(spec)
            return await expand(spec, owner, partial(read_spec, self.store))
        except SpecError as exc:
            raise InvalidRequest(str(exc), param=exc.param, code="invalid_prompt_template") from None
        except ArtifactMissing as exc:
            raise InvalidRequest(str(exc), param=exc.field, code="invalid_prompt_template") from None

    async def versions(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        owner, name = owner_of(request), request.path_params["name"]
        allow(actor, owner, "viewer")
        await self.store.get(owner, name)
        return reply(VersionList(data=[version_view(v) for v in await self.store.versions(owner, name)]))

    async def version(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        owner, name = owner_of(request), request.path_params["name"]
        allow(actor, owner, "viewer")
        ref = request.path_params["version"]
        row = (
            await self.store.version_by_number(owner, name, int(ref))
            if ref.isdigit() and len(ref) < 10
            else await self.store.version(owner, name, ref, missing_ok=True)
        )
        if row is None:
            raise NotFound(f"prompt {name!r} has no version {ref[:80]!r}")
        return reply(version_view(row))


def _check(spec: dict[str, Any]) -> None:
    """The template is safe to render, and the params are what the data plane would accept in a request."""
    try:
        orjson.dumps(spec)  # what the version id hashes: no lone surrogates, integers within 64 bits
    except orjson.JSONEncodeError as exc:
        raise InvalidRequest(f"The version cannot be stored: {exc}.", code="invalid_prompt_template") from None
    try:
        check_spec(spec)
    except SpecError as exc:
        raise InvalidRequest(str(exc), param=exc.param, code="invalid_prompt_template") from None
    sample = {**spec["params"], "model": spec.get("model") or "x", "messages": [{"role": "user", "content": ""}]}
    try:
        validate.chat(sample)
    except WardgateError as exc:
        raise InvalidRequest(f"params: {exc.message}", param=f"params.{exc.param}" if exc.param else "params") from None


def operations(services: Worker) -> list[Operation]:
    r = PromptRoutes(services)
    return [
        Operation(
            "POST",
            "/admin/v1/prompts",
            "Create a prompt (project member; system-wide: system member)",
            "prompts",
            r.create,
            PromptView,
            201,
            PromptCreate,
            errors=(400, 401, 403, 404, 409),
        ),
        Operation(
            "GET",
            "/admin/v1/prompts",
            "The prompts the caller may see",
            "prompts",
            r.list,
            PromptList,
            query=page_params("prompts"),
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "GET",
            ONE,
            "A prompt with its labels, versions, pending promotions and canaries",
            "prompts",
            r.get,
            PromptView,
            query=(PROJECT,),
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "POST",
            ONE + "/versions",
            "Push a version: 201 when new, 200 with the existing one when the same content was pushed before",
            "prompts",
            r.push,
            VersionView,
            201,
            VersionCreate,
            query=(PROJECT,),
            errors=(400, 401, 403, 404),
            also=(200,),
        ),
        Operation(
            "GET",
            ONE + "/versions",
            "A prompt's versions, oldest first",
            "prompts",
            r.versions,
            VersionList,
            query=(PROJECT,),
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "GET",
            ONE + "/versions/{version}",
            "One version, by id or number",
            "prompts",
            r.version,
            VersionView,
            query=(PROJECT,),
            errors=(400, 401, 403, 404),
        ),
    ]
