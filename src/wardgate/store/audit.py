"""The audit trail: append-only, hash-chained, and anchored outside the database, so that an edited, deleted,
truncated or re-chained row is detectable (docs/decisions/003-audit-anchoring.md).

- Row format 2 (``v = 2``): ``hash = HMAC-SHA256(key, [2, n, prev_hash, ts, actor, action, target, details])``.
  The key is not in the database (``audit.hmac_key``, else derived from ``master_key``), so someone who can write
  the rows cannot recompute the chain after an edit. ``n`` is the row's ordinal in the trail (1, 2, …), so a deleted
  row leaves a gap whose size is known.
- Row format 1 (rows written before anchoring): ``hash = sha256([prev_hash, ts, actor, action, target, details])``.
  They keep verifying; the first format-2 row links to the last of them, which anchors them too.
- Checkpoints (``audit_checkpoints``): the head's ordinal, seq and hash, MAC'd with the same key, written by the
  batched writer at most every ``audit.checkpoint_interval_s`` and on shutdown. A deleted tail (truncation) is a
  checkpoint whose ordinal the trail no longer reaches. ``wardgate audit checkpoint export`` copies them out of the
  database, where whoever deletes rows cannot reach them.

Appends from several replicas are serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite: the database's
own write lock) so the chain has one order.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wardgate.store.audit_chain import (
    ANCHORED,
    GENESIS,
    Checkpoint,
    audit_key,
    canonical,
    key_id,
    row_hash,
    row_mac,
)
from wardgate.store.audit_verify import Finding, VerifyResult, checkpoints, verify
from wardgate.store.driver_insert import CHUNK, DriverInsert
from wardgate.store.tables import audit_checkpoints, audit_log

__all__ = [
    "ANCHORED",
    "GENESIS",
    "AuditEntry",
    "AuditLog",
    "Checkpoint",
    "Finding",
    "VerifyResult",
    "append",
    "audit_key",
    "checkpoints",
    "head_matches",
    "is_anchored",
    "key_id",
    "row_hash",
    "row_mac",
    "verify",
]

log = logging.getLogger("wardgate.audit")
_PG_AUDIT_LOCK = 0x41554454  # "AUDT"
_INSERT = DriverInsert(
    lambda _dialect: audit_log.insert(), ("ts", "actor", "action", "target", "details", "prev_hash", "hash", "v", "n")
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str  # "master", "key:<id>", "user:<id>", "system"
    action: str  # "project.create", "key.revoke", "key.use.denied", …
    target: str | None = None
    details: dict[str, Any] | None = None
    ts: datetime | None = None


# -- writing ---------------------------------------------------------------------------------------------------


class AuditLog:
    """Appends batches (the audit BatchWriter's sink) and writes checkpoints: with a batch when the last one is
    older than ``checkpoint_interval_s``, every ``checkpoint_interval_s`` while rows are left uncovered (``start``),
    and on ``close`` (shutdown). Without a key it writes format-1 rows and no checkpoints (unanchored: the gateway
    warns at start-up)."""

    def __init__(
        self,
        engine: AsyncEngine,
        key: bytes | None,
        *,
        checkpoint_interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.key = key
        self.checkpoint_interval_s = checkpoint_interval_s
        self._clock = clock
        self._last_checkpoint: float | None = None
        self._uncovered = False  # rows appended since the last checkpoint
        self._task: asyncio.Task[None] | None = None

    async def check_at_start(self, *, derived: bool) -> None:
        """One loud line when the trail cannot be trusted as configured."""
        if self.key is None:
            log.warning(
                "audit trail NOT anchored: no audit.hmac_key and no master_key; rows are plain SHA-256 and an edit "
                "with a recomputed chain cannot be detected. Set audit.hmac_key."
            )
            return
        if derived:
            log.warning(
                "audit.hmac_key is not set: the audit chain is keyed by a key derived from master_key, so rotating "
                "master_key breaks `wardgate audit verify` for older rows. Set audit.hmac_key (32+ random bytes)."
            )
        try:
            matches = await head_matches(self.engine, self.key)
        except SQLAlchemyError as exc:
            log.warning("audit trail: cannot check the newest row at start-up (%s)", exc)
            return
        if matches is False:
            log.error(
                "audit trail: the newest anchored row does not verify with the configured key (key id %s): the key "
                "changed, or the row was tampered with. Run `wardgate audit verify`.",
                key_id(self.key),
            )

    def start(self) -> None:
        if self.key is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._periodic(), name="audit-checkpoints")

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.checkpoint_interval_s)
            if not self._uncovered:
                continue
            try:
                await self.checkpoint()
            except (SQLAlchemyError, OSError) as exc:  # the store is down: the next round (or shutdown) retries
                log.warning("audit checkpoint failed (%s); retrying in %gs", exc, self.checkpoint_interval_s)

    async def close(self) -> None:
        """Stop the periodic checkpoints and sign the final head."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.key is None or not self._uncovered:
            return
        try:
            await self.checkpoint()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("audit checkpoint at shutdown failed (%s); the next start-up writes one", exc)

    async def append(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        key = self.key
        due = key is not None and (
            self._last_checkpoint is None or self._clock() - self._last_checkpoint >= self.checkpoint_interval_s
        )
        async with self.engine.begin() as conn:
            await _lock(conn)
            await _insert(conn, key, entries)
            if due and key is not None:
                await _write_checkpoint(conn, key)
        if due:
            self._last_checkpoint = self._clock()
        self._uncovered = not due

    async def checkpoint(self) -> Checkpoint | None:
        """Sign the current head (unless the newest checkpoint already holds it)."""
        if self.key is None:
            return None
        async with self.engine.begin() as conn:
            await _lock(conn)
            written = await _write_checkpoint(conn, self.key)
        self._last_checkpoint = self._clock()
        self._uncovered = False
        return written


async def append(engine: AsyncEngine, entries: Sequence[AuditEntry], key: bytes | None = None) -> None:
    """One batch in one transaction, no checkpoint (the CLI's single changes; the gateway uses AuditLog)."""
    if not entries:
        return
    async with engine.begin() as conn:
        await _lock(conn)
        await _insert(conn, key, entries)


async def _head(conn: AsyncConnection) -> Any:
    query = select(audit_log.c.seq, audit_log.c.hash, audit_log.c.n, audit_log.c.v)
    return (await conn.execute(query.order_by(audit_log.c.seq.desc()).limit(1))).first()


async def _ordinal(conn: AsyncConnection, head: Any) -> int:
    """The head's ordinal: stored on format-2 rows; counted once when the head is a format-1 row."""
    if head is None:
        return 0
    if head.v >= ANCHORED and head.n is not None:
        return int(head.n)
    return int((await conn.execute(select(func.count()).select_from(audit_log))).scalar_one())


async def _insert(conn: AsyncConnection, key: bytes | None, entries: Sequence[AuditEntry]) -> None:
    head = await _head(conn)
    prev = head.hash if head is not None else GENESIS
    n = await _ordinal(conn, head) if key is not None else 0
    rows: list[tuple[Any, ...]] = []
    for index, entry in enumerate(entries):
        if index and not index % CHUNK:
            await asyncio.sleep(0)  # ~0.5 ms of hashing per step: requests ready meanwhile are not held up
        ts = entry.ts or datetime.now(UTC)
        details = canonical(entry.details)
        if key is None:
            digest, version, ordinal = row_hash(prev, ts, entry.actor, entry.action, entry.target, details), 1, None
        else:
            n += 1
            digest = row_mac(key, n, prev, ts, entry.actor, entry.action, entry.target, details)
            version, ordinal = ANCHORED, n
        rows.append((ts, entry.actor, entry.action, entry.target, details, prev, digest, version, ordinal))
        prev = digest
    await _INSERT.execute(conn, rows)


async def _write_checkpoint(conn: AsyncConnection, key: bytes) -> Checkpoint | None:
    head = await _head(conn)
    if head is None:
        return None
    last = (
        await conn.execute(select(audit_checkpoints.c.seq).order_by(audit_checkpoints.c.id.desc()).limit(1))
    ).scalar()
    if last == head.seq:
        return None
    checkpoint = Checkpoint.sign(key, await _ordinal(conn, head), head.seq, head.hash, datetime.now(UTC))
    await conn.execute(
        audit_checkpoints.insert(),
        {
            "at": checkpoint.at,
            "n": checkpoint.n,
            "seq": checkpoint.seq,
            "hash": checkpoint.hash,
            "key_id": checkpoint.key_id,
            "mac": checkpoint.mac,
        },
    )
    return checkpoint


async def _lock(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_AUDIT_LOCK})
    elif conn.dialect.name == "sqlite":
        # take the write lock now, so two writers cannot both read the same last hash
        await conn.execute(text("UPDATE audit_log SET seq = seq WHERE 0"))


async def is_anchored(engine: AsyncEngine) -> bool:
    """Has a format-2 (keyed) row been written? Then every later row must be keyed too."""
    async with engine.connect() as conn:
        query = select(audit_log.c.seq).where(audit_log.c.v >= ANCHORED).limit(1)
        return (await conn.execute(query)).first() is not None


async def head_matches(engine: AsyncEngine, key: bytes) -> bool | None:
    """Does the newest format-2 row verify with ``key``? None when there is none. A False at start-up means the
    configured key is not the one the trail was written with (or the head was tampered with)."""
    async with engine.connect() as conn:
        query = select(audit_log).where(audit_log.c.v >= ANCHORED).order_by(audit_log.c.seq.desc()).limit(1)
        row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    expected = row_mac(
        key, row["n"], row["prev_hash"], row["ts"], row["actor"], row["action"], row["target"], row["details"]
    )
    return hmac.compare_digest(expected, row["hash"])
