"""Label moves of managed prompts: promotions and their reviews, rollbacks, canaries (docs/prompts.md).

Every move, approval, rejection and rollback is an audit entry with the actor, the label's version before and after,
and the reason. A promotion to a protected label (`prompts.protected_labels`) waits for that many approvals from
users who neither requested it nor wrote the version; reviewing your own change is a 403.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import AdminActor, authenticate
from wardgate.api.admin.common import Operation, read_body, record, reply
from wardgate.api.admin.prompt_schemas import (
    CanaryBody,
    CanaryEnded,
    CanaryPromote,
    CanaryView,
    LabelView,
    PromotionCreate,
    PromotionList,
    PromotionView,
    Review,
    RollbackBody,
)
from wardgate.api.admin.prompts import (
    ONE,
    PROJECT,
    allow,
    canary_view,
    label_view,
    owner_of,
    promotion_view,
    refresh,
    required_approvals,
    target,
)
from wardgate.assemble import Worker
from wardgate.core.errors import NotFound, PermissionDenied
from wardgate.store.common import NotFoundInStore
from wardgate.store.prompt_reviews import Decision, Outcome, PromptReviews, SelfReview
from wardgate.store.prompts import SYSTEM, CanaryRow, LabelMove, PromptStore


def owner_visible(actor: AdminActor, owner: str) -> bool:
    return actor.system_role is not None if owner == SYSTEM else actor.project_role(owner) is not None


class PromptChangeRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self.store = PromptStore(services.engine)
        self.reviews = PromptReviews(services.engine)

    async def promote(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        owner, name = owner_of(request), request.path_params["name"]
        allow(actor, owner, "member")
        body = await read_body(request, PromotionCreate)
        await self.store.get(owner, name)
        required = required_approvals(self.services, body.label)
        outcome = await self.reviews.request(owner, name, body.label, body.version, body.reason, actor.id, required)
        details = {"promotion": outcome.promotion.id, **body.model_dump(mode="json"), "required": required}
        record(self.services, actor, "prompt.promotion.request", target(owner, name), details)
        await self._applied(actor, outcome, "promotion")
        return reply(promotion_view(outcome.promotion), 201)

    async def promotions(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        owner, name = owner_of(request), request.path_params["name"]
        allow(actor, owner, "viewer")
        await self.store.get(owner, name)
        status = request.query_params.get("status")
        rows = await self.reviews.list(owner, name, status if status in ("pending", "applied", "rejected") else None)
        return reply(PromotionList(data=[promotion_view(p) for p in rows]))

    async def approve(self, request: Request) -> Response:
        return await self._review(request, "approve")

    async def reject(self, request: Request) -> Response:
        return await self._review(request, "reject")

    async def approve_by_id(self, request: Request) -> Response:
        return await self._review(request, "approve")

    async def reject_by_id(self, request: Request) -> Response:
        return await self._review(request, "reject")

    async def _review(self, request: Request, decision: Decision) -> Response:
        actor = await authenticate(request, self.services)
        named = request.path_params.get("name")  # absent on /admin/v1/prompt-promotions/{id}/…: the id says it all
        if named is not None:
            allow(actor, owner_of(request), "admin")
        body = await read_body(request, Review, required=False)
        try:
            promotion = await self.reviews.get(request.path_params["id"])
        except NotFoundInStore:
            promotion = None
        if promotion is not None and named is None:
            if owner_visible(actor, promotion.project_id):
                allow(actor, promotion.project_id, "admin")
            else:
                promotion = None
        if (
            promotion is None
            or named is not None
            and (promotion.project_id, promotion.prompt)
            != (
                owner_of(request),
                named,
            )
        ):
            raise NotFound(f"no promotion {request.path_params['id']!r}")
        owner, name = promotion.project_id, promotion.prompt
        try:
            outcome = await self.reviews.decide(promotion.id, actor.id, decision, body.reason)
        except SelfReview as exc:
            raise PermissionDenied(str(exc)) from None
        details = {
            "promotion": promotion.id,
            "label": promotion.label,
            "version": promotion.version,
            "reason": body.reason,
            "status": outcome.promotion.status,
        }
        record(self.services, actor, f"prompt.promotion.{decision}", target(owner, name), details)
        await self._applied(actor, outcome, "promotion")
        return reply(promotion_view(outcome.promotion))

    async def _applied(self, actor: AdminActor, outcome: Outcome, why: str) -> None:
        p = outcome.promotion
        if outcome.move is not None:
            self._moved(actor, p.project_id, p.prompt, outcome.move, "prompt.label.move", p.reason, promotion=p.id)
        if outcome.ended_canary is not None:
            self._canary_ended(actor, outcome.ended_canary, f"its version was promoted ({why} {p.id})")
        if outcome.move is not None or outcome.ended_canary is not None:
            await refresh(self.services)

    def _moved(
        self, actor: AdminActor | str, owner: str, name: str, move: LabelMove, action: str, reason: str, **more: Any
    ) -> None:
        details = {"label": move.label, "before": move.before, "after": move.after, "reason": reason, **more}
        record(self.services, actor, action, target(owner, name), details)

    def _canary_ended(self, actor: AdminActor, row: CanaryRow, reason: str) -> None:
        details = {"label": row.label, "canary": row.id, "before": row.version, "after": None, "reason": reason}
        record(self.services, actor, "prompt.canary.end", target(row.project_id, row.prompt), details)

    async def rollback(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        owner, name, label = owner_of(request), request.path_params["name"], request.path_params["label"]
        allow(actor, owner, "admin")
        body = await read_body(request, RollbackBody)
        move = await self.store.rollback(owner, name, label, body.to, actor.id)
        self._moved(actor, owner, name, move, "prompt.label.rollback", body.reason)
        await refresh(self.services)
        rows = [r for r in await self.store.labels(owner, name) if r.label == label]
        return reply(label_view(self.services, rows[0]))

    async def set_canary(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        owner, name, label = owner_of(request), request.path_params["name"], request.path_params["label"]
        allow(actor, owner, "admin")
        body = await read_body(request, CanaryBody)
        if not any(r.label == label for r in await self.store.labels(owner, name)):
            raise NotFound(f"prompt {name!r} has no label {label!r}: a canary runs beside a label's version")
        rule = body.rollback.model_dump(mode="json")
        row, before = await self.reviews.start_canary(
            owner, name, label, body.version, body.percent, body.sticky, rule, actor.id
        )
        details = {
            "label": label,
            "canary": row.id,
            "before": before.version if before is not None else None,
            "after": row.version,
            "percent": row.percent,
            "sticky": row.sticky,
            "rollback": rule,
            "reason": "canary started",
        }
        record(self.services, actor, "prompt.canary.start", target(owner, name), details)
        await refresh(self.services)
        return reply(canary_view(row))

    async def promote_canary(self, request: Request) -> Response:
        """The canary's version becomes the label's: at once, or as a pending promotion on a protected label (the
        canary keeps running until it is applied)."""
        actor = await authenticate(request, self.services)
        owner, name, label = owner_of(request), request.path_params["name"], request.path_params["label"]
        allow(actor, owner, "admin")
        body = await read_body(request, CanaryPromote, required=False)
        canary = await self.reviews.canary(owner, name, label)
        if canary is None:
            raise NotFound(f"label {label!r} of prompt {name!r} has no canary")
        required = required_approvals(self.services, label)
        outcome = await self.reviews.request(owner, name, label, canary.version, body.reason, actor.id, required)
        details = {
            "promotion": outcome.promotion.id,
            "label": label,
            "version": canary.version,
            "canary": canary.id,
            "reason": body.reason,
            "required": required,
        }
        record(self.services, actor, "prompt.canary.promote", target(owner, name), details)
        await self._applied(actor, outcome, "canary promotion")
        return reply(promotion_view(outcome.promotion), 201)

    async def end_canary(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        owner, name, label = owner_of(request), request.path_params["name"], request.path_params["label"]
        allow(actor, owner, "admin")
        canary = await self.reviews.canary(owner, name, label)
        row = await self.reviews.end_canary(canary.id) if canary is not None else None
        if row is None:
            raise NotFound(f"label {label!r} of prompt {name!r} has no canary")
        self._canary_ended(actor, row, "ended by an operator")
        await refresh(self.services)
        return reply(CanaryEnded(id=row.id))


def operations(services: Worker) -> list[Operation]:
    r = PromptChangeRoutes(services)
    q = (PROJECT,)
    canary = ONE + "/labels/{label}/canary"
    return [
        Operation(
            "POST",
            ONE + "/promotions",
            "Ask to move a label to a version: applied at once, or pending on a protected label (project member)",
            "prompts",
            r.promote,
            PromotionView,
            201,
            PromotionCreate,
            query=q,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "GET",
            ONE + "/promotions",
            "A prompt's promotions",
            "prompts",
            r.promotions,
            PromotionList,
            query=q,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "POST",
            ONE + "/promotions/{id}/approve",
            "Approve a pending promotion; not its requester nor the version's author (project admin)",
            "prompts",
            r.approve,
            PromotionView,
            body=Review,
            body_required=False,
            query=q,
            errors=(400, 401, 403, 404, 409),
        ),
        Operation(
            "POST",
            ONE + "/promotions/{id}/reject",
            "Reject a pending promotion (project admin; not its requester nor the version's author)",
            "prompts",
            r.reject,
            PromotionView,
            body=Review,
            body_required=False,
            query=q,
            errors=(400, 401, 403, 404, 409),
        ),
        Operation(
            "POST",
            "/admin/v1/prompt-promotions/{id}/approve",
            "Approve a pending promotion by its id alone (what `wardgate prompts approve ID` calls)",
            "prompts",
            r.approve_by_id,
            PromotionView,
            body=Review,
            body_required=False,
            errors=(400, 401, 403, 404, 409),
        ),
        Operation(
            "POST",
            "/admin/v1/prompt-promotions/{id}/reject",
            "Reject a pending promotion by its id alone",
            "prompts",
            r.reject_by_id,
            PromotionView,
            body=Review,
            body_required=False,
            errors=(400, 401, 403, 404, 409),
        ),
        Operation(
            "POST",
            ONE + "/labels/{label}/rollback",
            "Point a label back: to `to`, else to its version before the last move (project admin)",
            "prompts",
            r.rollback,
            LabelView,
            body=RollbackBody,
            query=q,
            errors=(400, 401, 403, 404, 409),
        ),
        Operation(
            "PUT",
            canary,
            "Start (or replace) a label's canary: `percent` of callers, sticky per user or key (project admin)",
            "prompts",
            r.set_canary,
            CanaryView,
            body=CanaryBody,
            query=q,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "POST",
            canary + "/promote",
            "Move the label to the canary's version (a pending promotion on a protected label)",
            "prompts",
            r.promote_canary,
            PromotionView,
            201,
            CanaryPromote,
            body_required=False,
            query=q,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "DELETE",
            canary,
            "End a label's canary (project admin)",
            "prompts",
            r.end_canary,
            CanaryEnded,
            query=q,
            errors=(400, 401, 403, 404),
        ),
    ]
