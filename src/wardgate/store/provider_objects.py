"""Files and batches held by a provider, on the record of who created them.

A provider knows only the gateway's own key, so without this record any caller could read, use or delete every
tenant's files. Each row is (the provider's id, its kind, its owner, the provider); every read, delete, download or
batch creation through the gateway looks up (id, kind, owner) first: an id of another owner is not found, and its
existence is not revealed. Replicas share the rows through the store.

A batch also carries its settlement: ``claim_settlement`` sets ``settled_at`` only where it is unset, in one
statement, so of several replicas that see a batch complete exactly one meters its output; a failed metering gives
the claim back (``release_settlement``) for the next one to retry.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.core.outage import Outage
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


class ProviderObjectStore:
    def __init__(self, engine: AsyncEngine, outage: Outage) -> None:
        self.engine = engine
        self.outage = outage

    async def put(self, object_id: str, kind: str, owner: str, provider: str, model: str | None) -> None:
        """Record an object a provider made for ``owner``. An id already on record keeps its first owner (a provider
        reusing an id must never hand another tenant's object over); the duplicate is logged, not an error."""
        try:
            await self._insert(object_id, kind, owner, provider, model)
        except IntegrityError:
            log.warning("provider %s answered %s id %r, which is already on record; kept its first owner",
                        provider, kind, object_id[:128])  # fmt: skip

    async def _insert(self, object_id: str, kind: str, owner: str, provider: str, model: str | None) -> None:
        row = {"id": object_id, "kind": kind, "owner": owner, "provider": provider, "model": model,
               "created_at": now()}  # fmt: skip
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
        query = select(c.id, c.kind, c.owner, c.provider, c.model, c.settled_at).where(
            c.id == object_id, c.kind == kind, c.owner == owner
        )
        with reaching_store(self.outage):
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).first()
        if row is None:
            return None
        return ProviderObject(row[0], row[1], row[2], row[3], row[4], row[5] is not None)

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

    async def claim_settlement(self, batch_id: str) -> bool:
        c = provider_objects.c
        with reaching_store(self.outage):
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    update(provider_objects)
                    .where(c.id == batch_id, c.kind == "batch", c.settled_at.is_(None))
                    .values(settled_at=now())
                )
        return bool(result.rowcount)

    async def release_settlement(self, batch_id: str) -> None:
        c = provider_objects.c
        with reaching_store(self.outage):
            async with self.engine.begin() as conn:
                await conn.execute(update(provider_objects).where(c.id == batch_id).values(settled_at=None))
