"""The audit trail: append-only and hash-chained, so an edited, inserted or deleted row is detectable.

Each row's hash is sha256(prev_hash + canonical JSON of its fields). Appends from several replicas are serialised
(PostgreSQL: a transaction-scoped advisory lock; SQLite: the database's own write lock) so the chain has one order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wardgate.store.tables import audit_log

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x41554454  # "AUDT"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str  # "master", "key:<id>", "user:<id>", "system"
    action: str  # "project.create", "key.revoke", "key.use.denied", …
    target: str | None = None
    details: dict[str, Any] | None = None
    ts: datetime | None = None


def row_hash(prev_hash: str, ts: datetime, actor: str, action: str, target: str | None, details: str) -> str:
    # SQLite hands timestamps back without their zone: hash the UTC wall time, the same on every backend
    utc = ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts
    stamp = utc.isoformat(timespec="microseconds")
    material = orjson.dumps([prev_hash, stamp, actor, action, target, details])
    return hashlib.sha256(material).hexdigest()


def _canonical(details: dict[str, Any] | None) -> str:
    try:
        return orjson.dumps(details or {}, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # what orjson cannot encode (integers past 64 bits, odd types): the standard encoder can
        return json.dumps(details or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


async def append(engine: AsyncEngine, entries: Sequence[AuditEntry]) -> None:
    if not entries:
        return
    async with engine.begin() as conn:
        await _lock(conn)
        last = (await conn.execute(select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1))).scalar()
        prev = last or GENESIS
        rows = []
        for entry in entries:
            ts = entry.ts or datetime.now(UTC)
            details = _canonical(entry.details)
            digest = row_hash(prev, ts, entry.actor, entry.action, entry.target, details)
            rows.append(
                {
                    "ts": ts,
                    "actor": entry.actor,
                    "action": entry.action,
                    "target": entry.target,
                    "details": details,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        await conn.execute(audit_log.insert(), rows)


async def _lock(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_AUDIT_LOCK})
    elif conn.dialect.name == "sqlite":
        # take the write lock now, so two writers cannot both read the same last hash
        await conn.execute(text("UPDATE audit_log SET seq = seq WHERE 0"))


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    rows: int
    problem: str | None = None
    seq: int | None = None


async def verify(engine: AsyncEngine, batch: int = 5000) -> VerifyResult:
    """Walk the chain in order; the first row whose links or hash do not hold is reported."""
    prev = GENESIS
    count = 0
    last_seq = 0
    async with engine.connect() as conn:
        while True:
            result = await conn.execute(
                select(audit_log).where(audit_log.c.seq > last_seq).order_by(audit_log.c.seq).limit(batch)
            )
            rows = result.mappings().all()
            if not rows:
                return VerifyResult(True, count)
            for row in rows:
                if row["prev_hash"] != prev:
                    return VerifyResult(False, count, "a row before it was deleted or changed", row["seq"])
                expected = row_hash(prev, row["ts"], row["actor"], row["action"], row["target"], row["details"])
                if expected != row["hash"]:
                    return VerifyResult(False, count, "the row was edited", row["seq"])
                prev = row["hash"]
                count += 1
                last_seq = row["seq"]
