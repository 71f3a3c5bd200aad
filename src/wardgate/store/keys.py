"""Virtual API keys: stored only as a hash, shown once, scoped to a project (and optionally team, user, agent).

Every change that can stop a key working (revocation, a new expiry) is announced where it is written, so the
gateway that wrote it and a ``wardgate keys`` command alike reach every replica's key cache at once: in the same
transaction with PostgreSQL NOTIFY on ``KEY_EVENTS_CHANNEL``, and after the commit on Redis pub/sub when a
``publish`` function is given (``redis:`` configured). The payload is ``"<event> <key hash>"``; losing one is
harmless, the caches' short TTL is the safety net.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wardgate.store.common import NotFoundInStore, new_id, now
from wardgate.store.tables import api_keys

log = logging.getLogger("wardgate.store")
KEY_PREFIX = "sk-wg-"
KEY_EVENTS_CHANNEL = "wardgate_key_events"  # the PostgreSQL NOTIFY channel
KeyEvent = Literal["revoked", "changed", "flush"]  # flush: many keys changed at once (a project or team deleted)
Publish = Callable[[str], Awaitable[object]]  # sends one payload to every replica (Redis pub/sub)
VISIBLE = len(KEY_PREFIX) + 6  # "sk-wg-AbC123": enough to tell keys apart in a list, useless to an attacker


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """sha256 is right here (not a slow password hash): keys carry 256 random bits, so there is nothing to
    brute-force, and the lookup sits on every request."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    prefix: str
    project_id: str
    team_id: str | None
    user_id: str | None
    agent_id: str | None
    models: tuple[str, ...] | None
    tags: dict[str, Any]
    name: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_from: str | None

    def usable_at(self, when: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or _aware(self.expires_at) > when)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _record(row: Any) -> KeyRecord:
    return KeyRecord(
        row.id,
        row.prefix,
        row.project_id,
        row.team_id,
        row.user_id,
        row.agent_id,
        tuple(row.models) if row.models is not None else None,
        dict(row.tags or {}),
        row.name,
        _aware(row.created_at),
        _aware(row.expires_at) if row.expires_at else None,
        _aware(row.revoked_at) if row.revoked_at else None,
        row.rotated_from,
    )


def key_events_channel(redis_prefix: str) -> str:
    """The Redis pub/sub channel of key events."""
    return f"{redis_prefix}key-events"


def key_event(event: KeyEvent, digest: str) -> str:
    return f"{event} {digest}"


def parse_key_event(payload: str | bytes) -> tuple[KeyEvent, str] | None:
    """``None`` for anything that is not ours (a payload on a shared channel is not trusted blindly)."""
    if isinstance(payload, bytes):
        payload = payload.decode("ascii", "replace")
    event, _, digest = payload.partition(" ")
    if event == "flush" and not digest:
        return "flush", ""
    if event not in ("revoked", "changed") or len(digest) != 64:
        return None
    return ("revoked" if event == "revoked" else "changed"), digest


class KeyStore:
    def __init__(self, engine: AsyncEngine, publish: Publish | None = None) -> None:
        self.engine = engine
        self.publish = publish

    async def _announce(self, conn: AsyncConnection, event: KeyEvent, key_id: str) -> str | None:
        """NOTIFY inside the writing transaction (delivered at commit); the payload for Redis, after it."""
        digest = (await conn.execute(select(api_keys.c.hash).where(api_keys.c.id == key_id))).scalar()
        if digest is None:
            return None
        payload = key_event(event, str(digest))
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_notify(:channel, :payload)"), {"channel": KEY_EVENTS_CHANNEL, "payload": payload}
            )
        return payload

    async def announce_all(self) -> None:
        """Every replica drops its cached keys: many changed at once (a project or team and its keys deleted, a
        project's allow-list changed)."""
        payload = key_event("flush", "").rstrip()
        if self.engine.dialect.name == "postgresql":
            async with self.engine.begin() as conn:
                await conn.execute(
                    text("SELECT pg_notify(:channel, :payload)"), {"channel": KEY_EVENTS_CHANNEL, "payload": payload}
                )
        await self._publish(payload)

    async def _publish(self, payload: str | None) -> None:
        if payload is None or self.publish is None:
            return
        try:
            await self.publish(payload)
        except Exception as exc:  # noqa: BLE001 - written already; other replicas fall back on their cache TTL
            log.warning(
                "key event not published (%s: %s); replicas pick it up within their key cache TTL",
                type(exc).__name__,
                str(exc)[:200],
            )

    async def create(
        self,
        project_id: str,
        *,
        team_id: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        models: Sequence[str] | None = None,
        expires_at: datetime | None = None,
        name: str | None = None,
        tags: dict[str, Any] | None = None,
        rotated_from: str | None = None,
        secret: str | None = None,
    ) -> tuple[str, KeyRecord]:
        """Return the key itself (shown once, never stored) and its record. ``secret`` imports an existing key
        (moving from another gateway, a load test); it must look like ours and carry enough randomness."""
        if secret is not None and not (secret.startswith(KEY_PREFIX) and len(secret) >= len(KEY_PREFIX) + 32):
            raise ValueError(f"an imported key must start with {KEY_PREFIX} and have at least 32 more characters")
        key = secret or new_key()
        record = KeyRecord(
            new_id("key"),
            key[:VISIBLE],
            project_id,
            team_id,
            user_id,
            agent_id,
            tuple(models) if models is not None else None,
            tags or {},
            name,
            now(),
            expires_at,
            None,
            rotated_from,
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    id=record.id,
                    prefix=record.prefix,
                    hash=key_hash(key),
                    name=name,
                    project_id=project_id,
                    team_id=team_id,
                    user_id=user_id,
                    agent_id=agent_id,
                    models=list(models) if models is not None else None,
                    tags=record.tags,
                    created_at=record.created_at,
                    expires_at=expires_at,
                    rotated_from=rotated_from,
                )
            )
        return key, record

    async def by_hash(self, digest: str) -> KeyRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.hash == digest))).first()
        return _record(row) if row is not None else None

    async def get(self, key_id: str) -> KeyRecord:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        if row is None:
            raise NotFoundInStore(f"no key {key_id!r}")
        return _record(row)

    async def hash_of(self, key_id: str) -> str:
        """The digest a key is cached under, so a revocation can drop it from this worker's cache at once."""
        async with self.engine.connect() as conn:
            digest = (await conn.execute(select(api_keys.c.hash).where(api_keys.c.id == key_id))).scalar()
        if digest is None:
            raise NotFoundInStore(f"no key {key_id!r}")
        return str(digest)

    async def list(
        self, project_ids: Sequence[str] | None = None, *, limit: int | None = None, after: str | None = None
    ) -> list[KeyRecord]:
        """Keys oldest first; with ``limit``, one page of them, starting past the key ``after`` (keyset paging on
        (created_at, id), so a page holds still while keys are added). An ``after`` that names no key of
        ``project_ids`` is a NotFoundInStore."""
        c = api_keys.c
        query = select(api_keys).order_by(c.created_at, c.id)
        if project_ids is not None:
            query = query.where(c.project_id.in_(list(project_ids)))
        async with self.engine.connect() as conn:
            if after is not None:
                anchor = select(c.created_at).where(c.id == after)
                if project_ids is not None:
                    anchor = anchor.where(c.project_id.in_(list(project_ids)))
                since = (await conn.execute(anchor)).scalar()
                if since is None:
                    raise NotFoundInStore(f"no key {after[:100]!r} to page from")
                query = query.where(or_(c.created_at > since, and_(c.created_at == since, c.id > after)))
            if limit is not None:
                query = query.limit(limit)
            return [_record(r) for r in await conn.execute(query)]

    async def revoke(self, key_id: str) -> KeyRecord:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                api_keys.update()
                .where((api_keys.c.id == key_id) & api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now())
            )
            payload = await self._announce(conn, "revoked", key_id) if result.rowcount else None
        await self._publish(payload)
        record = await self.get(key_id)
        if result.rowcount == 0 and record.revoked_at is None:
            raise NotFoundInStore(f"no key {key_id!r}")
        return record

    async def rotate(self, key_id: str, overlap: timedelta = timedelta(hours=24)) -> tuple[str, KeyRecord]:
        """A new key with the same scope; the old one keeps working for ``overlap``, then expires."""
        old = await self.get(key_id)
        if old.revoked_at is not None:
            raise NotFoundInStore(f"key {key_id!r} is revoked")
        ends = now() + overlap
        if old.expires_at is None or old.expires_at > ends:
            async with self.engine.begin() as conn:
                await conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(expires_at=ends))
                payload = await self._announce(conn, "revoked" if overlap <= timedelta(0) else "changed", key_id)
            await self._publish(payload)
        return await self.create(
            old.project_id,
            team_id=old.team_id,
            user_id=old.user_id,
            agent_id=old.agent_id,
            models=old.models,
            expires_at=None,
            name=old.name,
            tags=old.tags,
            rotated_from=old.id,
        )
