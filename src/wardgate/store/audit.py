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
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wardgate.store.tables import audit_checkpoints, audit_log

log = logging.getLogger("wardgate.audit")
GENESIS = "0" * 64
ANCHORED = 2  # the row format written when a key is configured
_PG_AUDIT_LOCK = 0x41554454  # "AUDT"
_DERIVE = b"wardgate audit hmac key v1"
_KEY_ID = b"wardgate audit key id"
_MAX_FINDINGS = 1000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str  # "master", "key:<id>", "user:<id>", "system"
    action: str  # "project.create", "key.revoke", "key.use.denied", …
    target: str | None = None
    details: dict[str, Any] | None = None
    ts: datetime | None = None


# -- keys and hashes (pure) ------------------------------------------------------------------------------------


def audit_key(hmac_key: str | None, master_key: str | None) -> bytes | None:
    """``audit.hmac_key`` when set; else a key derived from ``master_key`` (one-way, so the audit key does not
    reveal the master key); None when neither is known (the trail is then written unanchored, format 1)."""
    if hmac_key:
        return hmac_key.encode()
    if master_key:
        return hmac.new(master_key.encode(), _DERIVE, hashlib.sha256).digest()
    return None


def key_id(key: bytes) -> str:
    """A short public name of a key: tells "another key" apart from "tampered" without revealing the key."""
    return hmac.new(key, _KEY_ID, hashlib.sha256).hexdigest()[:16]


def _stamp(ts: datetime) -> str:
    # SQLite hands timestamps back without their zone: hash the UTC wall time, the same on every backend
    utc = ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts
    return utc.isoformat(timespec="microseconds")


def row_hash(prev_hash: str, ts: datetime, actor: str, action: str, target: str | None, details: str) -> str:
    """Format 1: a plain SHA-256 chain (anyone can recompute it)."""
    material = orjson.dumps([prev_hash, _stamp(ts), actor, action, target, details])
    return hashlib.sha256(material).hexdigest()


def row_mac(
    key: bytes, n: int, prev_hash: str, ts: datetime, actor: str, action: str, target: str | None, details: str
) -> str:
    """Format 2: the chain keyed by a secret that is not in the database."""
    material = orjson.dumps([ANCHORED, n, prev_hash, _stamp(ts), actor, action, target, details])
    return hmac.new(key, material, hashlib.sha256).hexdigest()


def _keyless(
    n: int, prev_hash: str, ts: datetime, actor: str, action: str, target: str | None, details: str
) -> set[str]:
    """What someone without the key could have computed for a row: the plain formats."""
    plain = orjson.dumps([ANCHORED, n, prev_hash, _stamp(ts), actor, action, target, details])
    return {row_hash(prev_hash, ts, actor, action, target, details), hashlib.sha256(plain).hexdigest()}


def _canonical(details: dict[str, Any] | None) -> str:
    try:
        return orjson.dumps(details or {}, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # what orjson cannot encode (integers past 64 bits, odd types): the standard encoder can
        return json.dumps(details or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The trail's head at one moment, signed: ``n`` rows, the last being ``seq`` with ``hash``."""

    n: int
    seq: int
    hash: str
    at: datetime
    key_id: str
    mac: str

    @staticmethod
    def sign(key: bytes, n: int, seq: int, head: str, at: datetime) -> Checkpoint:
        return Checkpoint(n, seq, head, at, key_id(key), _checkpoint_mac(key, n, seq, head, at))

    def valid(self, key: bytes) -> bool:
        return hmac.compare_digest(self.mac, _checkpoint_mac(key, self.n, self.seq, self.hash, self.at))

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds") if self.at.tzinfo else _stamp(self.at),
            "key_id": self.key_id,
            "mac": self.mac,
        }

    @staticmethod
    def from_json(data: Any) -> Checkpoint:
        """Raises ValueError on anything that is not a checkpoint as ``to_json`` writes it."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            n, seq, head, at, kid, mac = (data[k] for k in ("n", "seq", "hash", "at", "key_id", "mac"))
        except KeyError as exc:
            raise ValueError(f"missing {exc.args[0]!r}") from None
        if not (isinstance(n, int) and isinstance(seq, int) and all(isinstance(v, str) for v in (head, at, kid, mac))):
            raise ValueError("wrong field types")
        return Checkpoint(n, seq, head, datetime.fromisoformat(at), kid, mac)


def _checkpoint_mac(key: bytes, n: int, seq: int, head: str, at: datetime) -> str:
    material = orjson.dumps(["wardgate-audit-checkpoint", 1, n, seq, head, _stamp(at)])
    return hmac.new(key, material, hashlib.sha256).hexdigest()


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
    rows = []
    for entry in entries:
        ts = entry.ts or datetime.now(UTC)
        details = _canonical(entry.details)
        if key is None:
            digest, version, ordinal = row_hash(prev, ts, entry.actor, entry.action, entry.target, details), 1, None
        else:
            n += 1
            digest = row_mac(key, n, prev, ts, entry.actor, entry.action, entry.target, details)
            version, ordinal = ANCHORED, n
        rows.append(
            {
                "ts": ts,
                "actor": entry.actor,
                "action": entry.action,
                "target": entry.target,
                "details": details,
                "prev_hash": prev,
                "hash": digest,
                "v": version,
                "n": ordinal,
            }
        )
        prev = digest
    await conn.execute(audit_log.insert(), rows)


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


async def checkpoints(engine: AsyncEngine) -> list[Checkpoint]:
    """The checkpoints stored in the database, oldest first (what ``audit checkpoint export`` writes)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.id))).mappings().all()
    return [Checkpoint(r["n"], r["seq"], r["hash"], r["at"], r["key_id"], r["mac"]) for r in rows]


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


# -- verifying -------------------------------------------------------------------------------------------------

FindingKind = Literal["edited", "deleted", "truncated", "rechained", "checkpoint", "unverified"]
_MESSAGES: dict[str, str] = {
    "edited": "the row was edited",
    "deleted": "rows before it were deleted",
    "truncated": "rows after it were deleted (the trail was truncated)",
    "rechained": "the chain was recomputed without the key (re-chained)",
    "checkpoint": "a checkpoint does not verify",
    "unverified": "anchored rows cannot be checked without the key",
}


@dataclass(slots=True)
class Finding:
    """One problem over a run of consecutive rows (``first_seq``…``last_seq``)."""

    kind: FindingKind
    first_seq: int | None
    last_seq: int | None
    rows: int  # rows concerned: the run's length, or how many were deleted when that is known
    detail: str = ""

    @property
    def message(self) -> str:
        return _MESSAGES[self.kind]

    def describe(self) -> str:
        text = self.kind.upper()
        if self.first_seq is not None:
            text += (
                f" seq={self.first_seq}"
                if self.first_seq == self.last_seq
                else f" seq={self.first_seq}-{self.last_seq}"
            )
        text += f": {self.message}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(slots=True)
class VerifyResult:
    ok: bool
    rows: int  # rows checked before the first problem (all rows when ok)
    problem: str | None = None  # the first finding's message
    seq: int | None = None  # the first finding's row
    findings: list[Finding] = field(default_factory=list)
    total: int = 0  # rows in the trail
    anchored: int = 0  # format-2 rows
    checkpoints: int = 0  # checkpoints checked (stored and given)
    more_findings: int = 0  # findings past the first _MAX_FINDINGS, counted only


class _Report:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.more = 0
        self.first_bad_at: int | None = None  # rows verified before the first finding
        self._run_end = -2  # position of the last row added to the last finding's run

    def add(self, kind: FindingKind, seq: int | None, rows: int, detail: str, checked: int) -> None:
        """``checked`` is the row's position in the walk (rows before it)."""
        if self.first_bad_at is None:
            self.first_bad_at = checked
        last = self.findings[-1] if self.findings else None
        runs = kind in ("edited", "rechained", "unverified") and not detail
        if runs and last is not None and last.kind == kind and not last.detail and checked == self._run_end + 1:
            last.last_seq, last.rows = seq, last.rows + rows  # consecutive rows: one finding
            self._run_end = checked
            return
        self._run_end = checked if runs else -2
        if len(self.findings) >= _MAX_FINDINGS:
            self.more += 1
            return
        self.findings.append(Finding(kind, seq, seq, rows, detail))


async def verify(
    engine: AsyncEngine, key: bytes | None = None, given: Iterable[Checkpoint] = (), batch: int = 5000
) -> VerifyResult:
    """Walk the chain in order and report every problem, each run of rows once: edited rows, deleted rows (with
    how many, from the ordinals), a truncated tail (from the checkpoints), and a chain recomputed without the key.
    ``given`` are checkpoints kept outside the database (``--checkpoints FILE``), checked like the stored ones."""
    report = _Report()
    by_n: dict[int, list[tuple[Checkpoint, str]]] = {}
    checked_checkpoints = 0
    for source, cps in (("stored", await checkpoints(engine)), ("given", list(given))):
        for cp in cps:
            checked_checkpoints += 1
            if key is None:
                continue
            if cp.key_id != key_id(key):
                report.add("checkpoint", cp.seq, 0, f"{source} checkpoint signed with another key ({cp.key_id})", 0)
            elif not cp.valid(key):
                report.add("checkpoint", cp.seq, 0, f"{source} checkpoint of {cp.at} has a bad signature", 0)
            else:
                by_n.setdefault(cp.n, []).append((cp, source))
    prev, prev_n, prev_seq = GENESIS, 0, None
    count = anchored = 0
    seen_anchored = False
    last_seq = 0
    async with engine.connect() as conn:
        while True:
            result = await conn.execute(
                select(audit_log).where(audit_log.c.seq > last_seq).order_by(audit_log.c.seq).limit(batch)
            )
            rows = result.mappings().all()
            if not rows:
                break
            for row in rows:
                seq = row["seq"]
                fields = (row["ts"], row["actor"], row["action"], row["target"], row["details"])
                version = row["v"] or 1
                n = int(row["n"]) if version >= ANCHORED and row["n"] is not None else prev_n + 1
                authentic: bool | None
                if version >= ANCHORED:
                    anchored += 1
                    seen_anchored = True
                    if key is None:
                        authentic = None
                        report.add("unverified", seq, 1, "", count)
                    else:
                        authentic = hmac.compare_digest(row_mac(key, n, row["prev_hash"], *fields), row["hash"])
                else:
                    authentic = row_hash(row["prev_hash"], *fields) == row["hash"]
                    if seen_anchored:
                        report.add("rechained", seq, 1, "", count)  # a format-1 row after anchored ones
                        authentic = True  # reported; not again as an edit
                if row["prev_hash"] != prev and authentic is not False:
                    gone = n - prev_n - 1 if version >= ANCHORED else 0
                    after = f"after seq={prev_seq}" if prev_seq is not None else "at the start"
                    detail = f"{gone} row{'s' if gone != 1 else ''} missing {after}" if gone > 0 else f"{after}"
                    report.add("deleted", seq, max(gone, 0), detail, count)
                if authentic is False:
                    rebuilt = row["hash"] in _keyless(n, row["prev_hash"], *fields)
                    report.add("rechained" if rebuilt else "edited", seq, 1, "", count)
                for cp, source in by_n.pop(n, []):
                    if cp.hash != row["hash"] or cp.seq != seq:
                        report.add(
                            "rechained", seq, 1, f"does not match the {source} checkpoint of {cp.at} (row {n})", count
                        )
                prev, prev_n, prev_seq = row["hash"], n, seq
                count += 1
                last_seq = seq
    beyond = [(cp, source) for n, items in by_n.items() if n > prev_n for cp, source in items]
    if beyond:
        cp, source = max(beyond, key=lambda item: item[0].n)
        missing = cp.n - prev_n
        report.add(
            "truncated",
            prev_seq,
            missing,
            f"{missing} row{'s' if missing != 1 else ''} after it are missing: the {source} checkpoint of {cp.at} "
            f"recorded {cp.n} rows up to seq={cp.seq}",
            count,
        )
    findings = report.findings
    first = findings[0] if findings else None
    return VerifyResult(
        ok=not findings,
        rows=report.first_bad_at if report.first_bad_at is not None else count,
        problem=first.message if first else None,
        seq=first.first_seq if first else None,
        findings=findings,
        total=count,
        anchored=anchored,
        checkpoints=checked_checkpoints,
        more_findings=report.more,
    )
