"""Promotions of prompt versions to labels with four-eyes approval, and label canaries (docs/prompts.md).

A promotion to a protected label stays ``pending`` until ``required`` distinct approvers, none of them the requester
or the version's author, approve it; one rejection closes it. The promotion row is locked while a decision is
taken, so two approvals landing at once on two replicas count as two and apply the move once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wardgate.store.common import Conflict, NotFoundInStore, StoreError, now
from wardgate.store.prompts import CanaryRow, LabelMove, move_label
from wardgate.store.tables import prompt_approvals, prompt_canaries, prompt_promotions, prompt_versions

Decision = Literal["approve", "reject"]


class SelfReview(StoreError):
    """The requester or the version's author tried to approve or reject their own change."""


@dataclass(frozen=True, slots=True)
class Approval:
    actor: str
    decision: str
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class PromotionRow:
    id: str
    project_id: str
    prompt: str
    label: str
    version: str
    reason: str
    requested_by: str
    required: int
    status: str  # pending | applied | rejected
    created_at: datetime
    decided_at: datetime | None
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    promotion: PromotionRow
    move: LabelMove | None  # set when this call moved the label
    ended_canary: CanaryRow | None = None  # the label's canary, ended because its version is now the label's


class PromptReviews:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def request(
        self, project_id: str, name: str, label: str, version: str, reason: str, actor: str, required: int
    ) -> Outcome:
        """A pending promotion, or (``required`` 0: an unprotected label) one applied at once."""
        pid = "prm_" + secrets.token_hex(8)
        stamp = now()
        async with self.engine.begin() as conn:
            await _author(conn, project_id, name, version)
            values: dict[str, Any] = {
                "id": pid,
                "project_id": project_id,
                "prompt": name,
                "label": label,
                "version": version,
                "reason": reason,
                "requested_by": actor,
                "required": required,
                "status": "pending" if required else "applied",
                "created_at": stamp,
                "decided_at": None if required else stamp,
            }
            await conn.execute(prompt_promotions.insert().values(**values))
            move = ended = None
            if not required:
                move = await move_label(conn, project_id, name, label, version, actor)
                ended = await _end_superseded_canary(conn, project_id, name, label, version)
        return Outcome(PromotionRow(**values), move, ended)

    async def decide(self, promotion_id: str, actor: str, decision: Decision, reason: str | None) -> Outcome:
        async with self.engine.begin() as conn:
            query = select(prompt_promotions).where(prompt_promotions.c.id == promotion_id).with_for_update()
            row = (await conn.execute(query)).first()
            if row is None:
                raise NotFoundInStore(f"no promotion {promotion_id!r}")
            promotion = PromotionRow(**row._mapping)
            if promotion.status != "pending":
                raise Conflict(f"promotion {promotion_id!r} is already {promotion.status}")
            author = await _author(conn, promotion.project_id, promotion.prompt, promotion.version)
            if actor in (promotion.requested_by, author):
                raise SelfReview("you may not approve or reject a promotion you requested or a version you wrote")
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        prompt_approvals.insert().values(
                            promotion_id=promotion_id, actor=actor, decision=decision, reason=reason, at=now()
                        )
                    )
            except IntegrityError:
                raise Conflict(f"you have already reviewed promotion {promotion_id!r}") from None
            approvals = await conn.scalar(
                select(func.count())
                .select_from(prompt_approvals)
                .where(prompt_approvals.c.promotion_id == promotion_id, prompt_approvals.c.decision == "approve")
            )
            status = "pending"
            if decision == "reject":
                status = "rejected"
            elif int(approvals or 0) >= promotion.required:
                status = "applied"
            move = ended = None
            if status != "pending":
                await conn.execute(
                    prompt_promotions.update()
                    .where(prompt_promotions.c.id == promotion_id)
                    .values(status=status, decided_at=now())
                )
            if status == "applied":
                p = promotion
                move = await move_label(conn, p.project_id, p.prompt, p.label, p.version, actor)
                ended = await _end_superseded_canary(conn, p.project_id, p.prompt, p.label, p.version)
        return Outcome(await self.get(promotion_id), move, ended)

    async def get(self, promotion_id: str) -> PromotionRow:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(prompt_promotions).where(prompt_promotions.c.id == promotion_id))).first()
            if row is None:
                raise NotFoundInStore(f"no promotion {promotion_id!r}")
            return PromotionRow(**row._mapping, approvals=await _approvals(conn, promotion_id))

    async def list(self, project_id: str, name: str, status: str | None = None) -> list[PromotionRow]:
        query = (
            select(prompt_promotions)
            .where(prompt_promotions.c.project_id == project_id, prompt_promotions.c.prompt == name)
            .order_by(prompt_promotions.c.created_at)
        )
        if status is not None:
            query = query.where(prompt_promotions.c.status == status)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            return [PromotionRow(**r._mapping, approvals=await _approvals(conn, r.id)) for r in rows]

    # -- canaries --------------------------------------------------------------------------------------------------

    async def start_canary(
        self,
        project_id: str,
        name: str,
        label: str,
        version: str,
        percent: float,
        sticky: str,
        rollback: dict[str, Any],
        actor: str,
    ) -> tuple[CanaryRow, CanaryRow | None]:
        """The new canary of a label, and the one it replaced (if any)."""
        row = CanaryRow(
            project_id, name, label, "cny_" + secrets.token_hex(8), version, percent, sticky, rollback, actor, now()
        )
        async with self.engine.begin() as conn:
            await _author(conn, project_id, name, version)
            before = await _canary(conn, project_id, name, label)
            if before is not None:
                await conn.execute(delete(prompt_canaries).where(prompt_canaries.c.id == before.id))
            await conn.execute(prompt_canaries.insert().values(**_canary_fields(row)))
        return row, before

    async def canary(self, project_id: str, name: str, label: str) -> CanaryRow | None:
        async with self.engine.connect() as conn:
            return await _canary(conn, project_id, name, label)

    async def end_canary(self, canary_id: str) -> CanaryRow | None:
        """Remove one canary run; None when it is already gone (another replica ended it first): exactly one caller
        gets the row, so exactly one audits and notifies."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(prompt_canaries).where(prompt_canaries.c.id == canary_id))).first()
            if row is None:
                return None
            result = await conn.execute(delete(prompt_canaries).where(prompt_canaries.c.id == canary_id))
            return CanaryRow(**row._mapping) if result.rowcount == 1 else None


async def _author(conn: AsyncConnection, project_id: str, name: str, version: str) -> str:
    author = await conn.scalar(
        select(prompt_versions.c.author).where(
            prompt_versions.c.project_id == project_id,
            prompt_versions.c.prompt == name,
            prompt_versions.c.id == version,
        )
    )
    if author is None:
        raise NotFoundInStore(f"prompt {name!r} has no version {version!r}")
    return str(author)


async def _approvals(conn: AsyncConnection, promotion_id: str) -> tuple[Approval, ...]:
    query = (
        select(prompt_approvals.c.actor, prompt_approvals.c.decision, prompt_approvals.c.reason, prompt_approvals.c.at)
        .where(prompt_approvals.c.promotion_id == promotion_id)
        .order_by(prompt_approvals.c.at)
    )
    return tuple(Approval(*r) for r in await conn.execute(query))


async def _canary(conn: AsyncConnection, project_id: str, name: str, label: str) -> CanaryRow | None:
    query = select(prompt_canaries).where(
        prompt_canaries.c.project_id == project_id, prompt_canaries.c.prompt == name, prompt_canaries.c.label == label
    )
    row = (await conn.execute(query)).first()
    return None if row is None else CanaryRow(**row._mapping)


async def _end_superseded_canary(
    conn: AsyncConnection, project_id: str, name: str, label: str, version: str
) -> CanaryRow | None:
    row = await _canary(conn, project_id, name, label)
    if row is None or row.version != version:
        return None
    await conn.execute(delete(prompt_canaries).where(prompt_canaries.c.id == row.id))
    return row


def _canary_fields(row: CanaryRow) -> dict[str, Any]:
    return {
        "project_id": row.project_id,
        "prompt": row.prompt,
        "label": row.label,
        "id": row.id,
        "version": row.version,
        "percent": row.percent,
        "sticky": row.sticky,
        "rollback": row.rollback,
        "started_by": row.started_by,
        "started_at": row.started_at,
    }
