"""Stored Responses API state: one row per response created with ``store`` (the default), scoped by owner.

The owner is the caller's project (any key of the project may read, continue or delete it, as with OpenAI), else
its principal. Every query is by (id, owner): an id of another owner is not found, never readable, and its
existence is not revealed. Replicas share the rows through the store (PostgreSQL), so a response created on one
replica is continued, read or deleted on any other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.core.outage import Outage
from wardgate.store.availability import reaching_store
from wardgate.store.common import now
from wardgate.store.tables import responses

log = logging.getLogger("wardgate.store")


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    messages_json: bytes  # the chat conversation, parsed only to continue it
    upstream: str | None = None  # the provider holding it natively (it answered in the Responses API), if one does

    @property
    def messages(self) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = orjson.loads(self.messages_json)
        return value


class ResponseStore:
    def __init__(self, engine: AsyncEngine, outage: Outage) -> None:
        self.engine = engine
        self.outage = outage

    async def put(
        self,
        owner: str,
        response: dict[str, Any],
        input_items: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        upstream: str | None = None,
    ) -> None:
        row = {
            "id": response["id"],
            "owner": owner,
            "created_at": now(),
            "response": orjson.dumps(response).decode(),
            "input_items": orjson.dumps(input_items).decode(),
            "messages": orjson.dumps(messages).decode(),
            "upstream": upstream,
        }
        with reaching_store(self.outage):
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(responses.insert().values(**row))
            except IntegrityError:  # an id on record: a provider's id seen again (natively answered responses)
                await self._replace(row)

    async def _replace(self, row: dict[str, Any]) -> None:
        """The same owner's response under an id already on record is replaced; another owner's is kept as it is
        (an id never moves to another tenant) and this one is not stored."""
        c = responses.c
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(responses).where(c.id == row["id"], c.owner == row["owner"]).values(**row)
            )
        if not result.rowcount:
            log.warning("response id %r is on record for another owner: not stored", str(row["id"])[:64])

    async def get(self, response_id: str, owner: str) -> StoredResponse | None:
        c = responses.c
        query = select(c.response, c.input_items, c.messages, c.upstream).where(
            responses.c.id == response_id, responses.c.owner == owner
        )
        with reaching_store(self.outage):
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).first()
        if row is None:
            return None
        return StoredResponse(orjson.loads(row[0]), orjson.loads(row[1]), row[2].encode(), row[3])

    async def delete(self, response_id: str, owner: str) -> bool:
        with reaching_store(self.outage):
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    delete(responses).where(responses.c.id == response_id, responses.c.owner == owner)
                )
        return bool(result.rowcount)
