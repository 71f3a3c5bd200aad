"""Checking the audit trail: every edited, deleted, truncated and re-chained run of rows, against the key and the
checkpoints (stored, and copies kept outside the database)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.audit_chain import ANCHORED, GENESIS, Checkpoint, key_id, keyless_hashes, row_hash, row_mac
from wardgate.store.tables import audit_checkpoints, audit_log

_MAX_FINDINGS = 1000


async def checkpoints(engine: AsyncEngine) -> list[Checkpoint]:
    """The checkpoints stored in the database, oldest first (what ``audit checkpoint export`` writes)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.id))).mappings().all()
    return [Checkpoint(r["n"], r["seq"], r["hash"], r["at"], r["key_id"], r["mac"]) for r in rows]


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
                    rebuilt = row["hash"] in keyless_hashes(n, row["prev_hash"], *fields)
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
