"""Config versions applied to a running cluster with ``wardgate config apply FILE``.

Each apply is a new row (a history to roll back to by applying an older text again); the newest row is the
cluster's config. The row is written and announced in one transaction on PostgreSQL (NOTIFY is delivered at
commit), and on Redis pub/sub after the commit when ``redis:`` is configured; every worker re-reads the newest row
on a signed announcement and every ``reload.poll_s`` in any case.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.common import now
from wardgate.store.tables import config_versions

CONFIG_EVENTS_CHANNEL = "wardgate_config_events"  # the PostgreSQL NOTIFY channel
MAX_PAYLOAD = 1024  # an announcement is a version and a signature: anything longer is not ours


def config_events_channel(redis_prefix: str) -> str:
    return f"{redis_prefix}config-events"


@dataclass(frozen=True, slots=True)
class AppliedConfig:
    version: int
    text: str
    sha256: str
    actor: str


def signing_key(master_key: str) -> bytes:
    """A key of its own for announcements, derived from the master key every replica already holds."""
    return hmac.new(master_key.encode(), b"wardgate config events v1", hashlib.sha256).digest()


# a new config version; budgets or rate limits changed in the admin API; models or providers changed in it
KINDS = ("config", "limits", "catalog")


def announcement(key: bytes, version: int, kind: str = "config") -> str:
    mac = hmac.new(key, f"{kind}:{version}".encode(), hashlib.sha256).hexdigest()
    return orjson.dumps({"kind": kind, "version": version, "sig": mac}).decode()


def verify(key: bytes, payload: str | bytes) -> tuple[str, int] | None:
    """(kind, version) of an announcement, or None when the payload is not one of ours (unknown sender, damaged,
    oversized). A replayed one can only cause a re-read."""
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    kind, version, sig = body.get("kind"), body.get("version"), body.get("sig")
    if kind not in KINDS or not isinstance(version, int) or isinstance(version, bool) or not isinstance(sig, str):
        return None
    expected = hmac.new(key, f"{kind}:{version}".encode(), hashlib.sha256).hexdigest()
    return (kind, version) if hmac.compare_digest(expected, sig) else None


async def announce(
    engine: AsyncEngine, key: bytes, publish: Callable[[str], Awaitable[object]] | None, kind: str, version: int
) -> None:
    """Outside a write: NOTIFY on its own (PostgreSQL), and publish (Redis) when configured."""
    payload = announcement(key, version, kind)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(
                text("SELECT pg_notify(:channel, :payload)"), {"channel": CONFIG_EVENTS_CHANNEL, "payload": payload}
            )
    if publish is not None:
        await publish(payload)


class AppliedConfigStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def latest(self) -> AppliedConfig | None:
        newest = select(func.max(config_versions.c.version)).scalar_subquery()
        query = select(
            config_versions.c.version, config_versions.c.text, config_versions.c.sha256, config_versions.c.actor
        ).where(config_versions.c.version == newest)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else AppliedConfig(int(row[0]), row[1], row[2], row[3])

    async def versions(self, limit: int = 100) -> list[tuple[int, str, str, datetime]]:
        """(version, sha256, actor, applied_at), newest first; the texts stay in the store."""
        c = config_versions.c
        query = select(c.version, c.sha256, c.actor, c.applied_at).order_by(c.version.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [(int(v), sha, actor, at) for v, sha, actor, at in (await conn.execute(query)).all()]

    async def apply(
        self, yaml_text: str, actor: str, key: bytes, publish: Callable[[str], Awaitable[object]] | None = None
    ) -> int:
        """Store ``yaml_text`` (already validated by the caller) as the newest version and announce it."""
        digest = hashlib.sha256(yaml_text.encode()).hexdigest()
        async with self.engine.begin() as conn:
            result = await conn.execute(
                config_versions.insert().values(text=yaml_text, sha256=digest, actor=actor, applied_at=now())
            )
            version = int(result.inserted_primary_key[0])  # type: ignore[index]
            payload = announcement(key, version)
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_notify(:channel, :payload)"), {"channel": CONFIG_EVENTS_CHANNEL, "payload": payload}
                )
        if publish is not None:
            await publish(payload)
        return version
