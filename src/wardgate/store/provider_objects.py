"""Files and batches held by a provider, on the record of who created them.

A provider knows only the gateway's own key, so without this record any caller could read, use or delete every
tenant's files. Each row is (the provider's id, its kind, its owner, the provider); every read, delete, download or
batch creation through the gateway looks up (id, kind, owner) first: an id of another owner is not found, and its
existence is not revealed. Replicas share the rows through the store.

A batch also carries its settlement. ``claim_settlement`` takes a lease (``lease_until``) only where the batch is
unsettled and no live lease is held, in one statement, so of several replicas (their pollers, or retrievals) that see
a batch end exactly one meters its output; ``finish_settlement`` then sets ``settled_at`` for good. A failed metering
gives the lease back (``release_settlement``) for the next one to retry, and a replica that dies mid-way holds the
lease only until it runs out. The batch keeps its creator's principal (``principal_to_json``): the output is charged
to the key, project, team and tags that created the batch, with no client credential at hand.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.core.outage import Outage
from wardgate.core.principal import Principal, PrincipalKind
from wardgate.store.availability import reaching_store
from wardgate.store.common import now
from wardgate.store.tables import provider_objects

log = logging.getLogger("wardgate.store")
MAX_LISTED = 10_000  # ids a list answer is filtered against: bounded


@dataclass(frozen=True, slots=True)
class ProviderObject:
    id: str
    kind: str
    owner: str
    provider: str
    model: str | None
    settled: bool
    principal: Principal | None = None  # a batch's creator (None for rows made before it was kept)


_KINDS: frozenset[str] = frozenset({"master", "key", "jwt", "agent"})


def principal_to_json(principal: Principal) -> dict[str, Any]:
    allowed = sorted(principal.allowed_models) if principal.allowed_models is not None else None
    return {"kind": principal.kind, "id": principal.id, "project": principal.project,
            "project_name": principal.project_name, "team": principal.team, "user": principal.user,
            "allowed_models": allowed, "tags": dict(principal.tags)}  # fmt: skip


def principal_from_json(raw: object) -> Principal | None:
    """The stored principal; None when absent or not one (a row is the gateway's own, but never trusted blindly)."""
    if not isinstance(raw, dict) or raw.get("kind") not in _KINDS or not isinstance(raw.get("id"), str):
        return None
    kind: PrincipalKind = raw["kind"]
    allowed = raw.get("allowed_models")
    tags = raw.get("tags")

    def text(name: str) -> str | None:
        value = raw.get(name)
        return value if isinstance(value, str) else None

    return Principal(
        kind=kind,
        id=raw["id"],
        project=text("project"),
        project_name=text("project_name"),
        team=text("team"),
        user=text("user"),
        allowed_models=frozenset(str(m) for m in allowed) if isinstance(allowed, list) else None,
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
    )


class ProviderObjectStore:
    def __init__(self, engine: AsyncEngine, outage: Outage) -> None:
        self.engine = engine
        self.outage = outage

    async def put(
        self,
        object_id: str,
        kind: str,
        owner: str,
        provider: str,
        model: str | None,
        principal: Principal | None = None,
    ) -> None:
        """Record an object a provider made for ``owner`` (a batch with the principal that created it). An id already
        on record keeps its first owner (a provider reusing an id must never hand another tenant's object over); the
        duplicate is logged, not an error."""
        try:
            await self._insert(object_id, kind, owner, provider, model, principal)
        except IntegrityError:
            log.warning("provider %s answered %s id %r, which is already on record; kept its first owner",
                        provider, kind, object_id[:128])  # fmt: skip

    async def _insert(
        self,
        object_id: str,
        kind: str,
        owner: str,
        provider: str,
        model: str | None,
        principal: Principal | None = None,
    ) -> None:
        creator = principal_to_json(principal) if principal is not None else None
        row = {"id": object_id, "kind": kind, "owner": owner, "provider": provider, "model": model,
               "created_at": now(), "principal": creator}  # fmt: skip
        with reaching_store(self.outage):
            async with self.engine.begin() as conn:
                await conn.execute(insert(provider_objects).values(**row))

    async def adopt(self, object_id: str, kind: str, owner: str, provider: str) -> None:
        """Record an object the provider made for an owner's (a batch's output file), unless already recorded: two
        replicas may both see it first."""
        with contextlib.suppress(IntegrityError):
            await self._insert(object_id, kind, owner, provider, None)

    async def get(self, object_id: str, kind: str, owner: str) -> ProviderObject | None:
        c = provider_objects.c
        query = select(*_COLUMNS).where(c.id == object_id, c.kind == kind, c.owner == owner)
        with reaching_store(self.outage):
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).first()
        return _object(row) if row is not None else None

    async def find(self, object_id: str, kind: str) -> ProviderObject | None:
        """The record of an id whoever owns it: for a caller that may use ids the gateway never saw (a SIP call's), to
        tell one on record as another's (refused) from one never recorded (passed on)."""
        c = provider_objects.c
        query = select(*_COLUMNS).where(c.id == object_id, c.kind == kind)
        with reaching_store(self.outage):
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).first()
        return _object(row) if row is not None else None

    async def owned(self, kind: str, owner: str, ids: list[str]) -> set[str]:
        """Which of ``ids`` (a provider's list page) belong to ``owner``."""
        c = provider_objects.c
        if not ids:
            return set()
        query = select(c.id).where(c.kind == kind, c.owner == owner, c.id.in_(ids[:MAX_LISTED]))
        with reaching_store(self.outage):
            async with self.engine.connect() as conn:
                return {row[0] for row in await conn.execute(query)}

    async def delete(self, object_id: str, kind: str, owner: str) -> bool:
        c = provider_objects.c
        with reaching_store(self.outage):
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    delete(provider_objects).where(c.id == object_id, c.kind == kind, c.owner == owner)
                )
        return bool(result.rowcount)

    async def unsettled_batches(self, provider: str, limit: int) -> list[ProviderObject]:
        """The provider's batches not yet settled and not leased now: the oldest first, at most ``limit`` (a poller's
        round)."""
        c = provider_objects.c
        query = (
            select(*_COLUMNS)
            .where(
                c.kind == "batch",
                c.provider == provider,
                c.settled_at.is_(None),
                or_(c.lease_until.is_(None), c.lease_until < now()),
            )
            .order_by(c.created_at)
            .limit(limit)
        )
        with reaching_store(self.outage):
            async with self.engine.connect() as conn:
                return [_object(row) for row in await conn.execute(query)]

    async def claim_settlement(self, batch_id: str, lease_s: float) -> bool:
        """Take the batch's settlement lease: True for exactly one claimant while the lease lives."""
        c = provider_objects.c
        moment = now()
        with reaching_store(self.outage):
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    update(provider_objects)
                    .where(
                        c.id == batch_id,
                        c.kind == "batch",
                        c.settled_at.is_(None),
                        or_(c.lease_until.is_(None), c.lease_until < moment),
                    )
                    .values(lease_until=moment + timedelta(seconds=lease_s))
                )
        return bool(result.rowcount)

    async def finish_settlement(self, batch_id: str) -> None:
        """The batch's output is metered (or it has none): settled for good."""
        c = provider_objects.c
        with reaching_store(self.outage):
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(provider_objects).where(c.id == batch_id, c.kind == "batch").values(settled_at=now())
                )

    async def release_settlement(self, batch_id: str) -> None:
        c = provider_objects.c
        with reaching_store(self.outage):
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(provider_objects).where(c.id == batch_id, c.kind == "batch").values(lease_until=None)
                )


_COLUMNS = (
    provider_objects.c.id,
    provider_objects.c.kind,
    provider_objects.c.owner,
    provider_objects.c.provider,
    provider_objects.c.model,
    provider_objects.c.settled_at,
    provider_objects.c.principal,
)


def _object(row: Any) -> ProviderObject:
    return ProviderObject(row[0], row[1], row[2], row[3], row[4], row[5] is not None, principal_from_json(row[6]))
