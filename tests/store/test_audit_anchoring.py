"""The anchored audit trail on both backends: an edit, a middle delete, a deleted tail and a chain recomputed
without the key are each found and named, with their rows; exported checkpoints catch what the database lost."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate import cli
from wardgate.store import audit
from wardgate.store.audit import AuditEntry, AuditLog, Checkpoint
from wardgate.store.engine import create_engine
from wardgate.store.tables import audit_checkpoints, audit_log

KEY = audit.audit_key("k" * 40, None)
assert KEY is not None


def entry(i: int) -> AuditEntry:
    return AuditEntry("master", "project.create", f"p{i}", {"i": i, "name": "ü"})


async def fill(log: AuditLog, n: int, batch: int = 10) -> None:
    for start in range(0, n, batch):
        await log.append([entry(i) for i in range(start, min(start + batch, n))])


async def kinds(engine: AsyncEngine, given: list[Checkpoint] | None = None) -> list[tuple[str, int | None, int]]:
    result = await audit.verify(engine, KEY, given or [])
    return [(f.kind, f.first_seq, f.rows) for f in result.findings]


async def test_a_clean_anchored_trail_verifies_with_its_checkpoints(engine: AsyncEngine) -> None:
    log = AuditLog(engine, KEY, checkpoint_interval_s=0)  # a checkpoint with every batch
    await fill(log, 100)
    result = await audit.verify(engine, KEY)
    assert result.ok and result.total == result.anchored == 100 and result.checkpoints == 10
    assert result.findings == []


async def test_an_edited_row_is_reported_as_edited_with_its_seq(engine: AsyncEngine) -> None:
    await fill(AuditLog(engine, KEY), 20)
    async with engine.begin() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.seq == 7).values(details='{"i":99,"name":"ü"}'))
    result = await audit.verify(engine, KEY)
    assert not result.ok and (result.seq, result.problem, result.rows) == (7, "the row was edited", 6)
    assert await kinds(engine) == [("edited", 7, 1)]


async def test_a_middle_delete_is_reported_with_how_many_rows_are_gone(engine: AsyncEngine) -> None:
    await fill(AuditLog(engine, KEY), 30)
    async with engine.begin() as conn:
        await conn.execute(delete(audit_log).where(audit_log.c.seq.between(11, 15)))
    findings = (await audit.verify(engine, KEY)).findings
    assert [(f.kind, f.first_seq, f.rows) for f in findings] == [("deleted", 16, 5)]
    assert findings[0].detail == "5 rows missing after seq=10"


async def test_a_tail_delete_of_50_rows_is_reported_as_truncated(engine: AsyncEngine) -> None:
    log = AuditLog(engine, KEY)
    await fill(log, 120)
    await log.checkpoint()  # what the writer does periodically and at shutdown
    async with engine.begin() as conn:
        await conn.execute(delete(audit_log).where(audit_log.c.seq > 70))
    result = await audit.verify(engine, KEY)
    assert not result.ok and result.total == 70
    assert [(f.kind, f.first_seq, f.rows) for f in result.findings] == [("truncated", 70, 50)]
    assert "recorded 120 rows up to seq=120" in result.findings[0].detail


async def test_a_chain_recomputed_without_the_key_is_reported_as_rechained(engine: AsyncEngine) -> None:
    """The attacker edits row 12 and recomputes every later hash with the plain SHA-256 of the old format."""
    await fill(AuditLog(engine, KEY), 40)
    async with engine.begin() as conn:
        rows = (await conn.execute(select(audit_log).order_by(audit_log.c.seq))).mappings().all()
        prev = rows[10]["hash"]
        for row in rows[11:]:
            details = '{"i":999,"name":"forged"}' if row["seq"] == 12 else row["details"]
            digest = audit.row_hash(prev, row["ts"], row["actor"], row["action"], row["target"], details)
            await conn.execute(
                update(audit_log)
                .where(audit_log.c.seq == row["seq"])
                .values(details=details, prev_hash=prev, hash=digest)
            )
            prev = digest
    assert await kinds(engine) == [("rechained", 12, 29)]  # one finding for the run, every row named by its range


async def test_a_trail_downgraded_to_the_old_format_is_caught_by_a_checkpoint(engine: AsyncEngine) -> None:
    log = AuditLog(engine, KEY)
    await fill(log, 10)
    await log.checkpoint()
    async with engine.begin() as conn:  # every row rewritten as a plain, key-less format-1 chain
        rows = (await conn.execute(select(audit_log).order_by(audit_log.c.seq))).mappings().all()
        prev = audit.GENESIS
        for row in rows:
            details = '{"forged":true}' if row["seq"] == 3 else row["details"]
            digest = audit.row_hash(prev, row["ts"], row["actor"], row["action"], row["target"], details)
            await conn.execute(
                update(audit_log)
                .where(audit_log.c.seq == row["seq"])
                .values(details=details, prev_hash=prev, hash=digest, v=1, n=None)
            )
            prev = digest
    findings = (await audit.verify(engine, KEY)).findings
    assert [(f.kind, f.first_seq) for f in findings] == [("rechained", 10)]
    assert "does not match the stored checkpoint" in findings[0].detail


async def test_rows_written_before_anchoring_keep_verifying_and_anchor_under_the_first_keyed_row(
    engine: AsyncEngine,
) -> None:
    await audit.append(engine, [entry(i) for i in range(5)])  # format 1: an existing trail before the upgrade
    log = AuditLog(engine, KEY)
    await fill(log, 5)
    await log.checkpoint()
    result = await audit.verify(engine, KEY)
    assert result.ok and (result.total, result.anchored) == (10, 5)
    async with engine.connect() as conn:
        ordinals = (await conn.execute(select(audit_log.c.n).order_by(audit_log.c.seq))).scalars().all()
    assert ordinals == [None] * 5 + [6, 7, 8, 9, 10]
    await audit.append(engine, [entry(99)])  # a key-less writer after anchoring: flagged, never silently accepted
    assert await kinds(engine) == [("rechained", 11, 1)]


async def test_exported_checkpoints_catch_a_truncation_that_also_emptied_the_stored_ones(
    engine: AsyncEngine, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await fill(AuditLog(engine, KEY), 80)
    config = tmp_path / "wardgate.yaml"
    config.write_text(f'store: "{store_url}"\naudit:\n  hmac_key: "{"k" * 40}"\n')
    exported = tmp_path / "checkpoints.jsonl"
    assert (
        await asyncio.to_thread(
            cli.main, ["audit", "checkpoint", "export", "--config", str(config), "--output", str(exported)]
        )
        == 0
    )
    lines = exported.read_text().splitlines()
    assert json.loads(lines[-1])["n"] == 80  # the export signs the head first: the copy covers every row
    assert (
        await asyncio.to_thread(cli.main, ["audit", "verify", "--config", str(config), "--checkpoints", str(exported)])
        == 0
    )
    assert "audit trail ok: 80 rows (80 anchored)" in capsys.readouterr().out
    async with engine.begin() as conn:  # the attacker deletes the tail and every stored checkpoint
        await conn.execute(delete(audit_log).where(audit_log.c.seq > 30))
        await conn.execute(delete(audit_checkpoints))
    assert (await audit.verify(engine, KEY)).ok  # nothing left inside the database shows it
    code = await asyncio.to_thread(
        cli.main, ["audit", "verify", "--config", str(config), "--checkpoints", str(exported)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "TRUNCATED seq=30: rows after it were deleted (the trail was truncated) (50 rows after it are missing" in err
    forged = json.loads(lines[-1]) | {"n": 500}
    exported.write_text(json.dumps(forged) + "\n")
    code = await asyncio.to_thread(
        cli.main, ["audit", "verify", "--config", str(config), "--checkpoints", str(exported)]
    )
    assert code == 1 and "a checkpoint does not verify" in capsys.readouterr().err


async def test_two_writers_appending_at_once_keep_one_valid_chain(store_url: str, engine: AsyncEngine) -> None:
    """Two replicas: two engines (two connection pools) appending concurrently through their own AuditLog."""
    other = create_engine(store_url)
    try:
        one, two = AuditLog(engine, KEY, checkpoint_interval_s=0), AuditLog(other, KEY, checkpoint_interval_s=0)
        await asyncio.gather(*(log.append([entry(i) for i in range(5)]) for _ in range(10) for log in (one, two)))
    finally:
        await other.dispose()
    result = await audit.verify(engine, KEY)
    assert result.ok and result.total == 100 and result.checkpoints == 20
    async with engine.connect() as conn:
        ordinals = (await conn.execute(select(audit_log.c.n).order_by(audit_log.c.seq))).scalars().all()
    assert ordinals == list(range(1, 101))


async def test_the_cli_refuses_a_change_it_could_not_record_in_an_anchored_trail(
    engine: AsyncEngine, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await fill(AuditLog(engine, KEY), 3)
    keyless = tmp_path / "keyless.yaml"
    keyless.write_text(f'store: "{store_url}"\n')
    code = await asyncio.to_thread(cli.main, ["projects", "create", "unrecorded", "--config", str(keyless)])
    assert code == 1 and "the audit trail is anchored with a key" in capsys.readouterr().err
    other = tmp_path / "other.yaml"
    other.write_text(f'store: "{store_url}"\naudit:\n  hmac_key: "{"z" * 40}"\n')
    code = await asyncio.to_thread(cli.main, ["projects", "create", "unrecorded", "--config", str(other)])
    assert code == 1 and "does not verify with this config's key" in capsys.readouterr().err
    right = tmp_path / "right.yaml"
    right.write_text(f'store: "{store_url}"\naudit:\n  hmac_key: "{"k" * 40}"\n')
    assert await asyncio.to_thread(cli.main, ["projects", "create", "recorded", "--config", str(right)]) == 0
    result = await audit.verify(engine, KEY)
    assert result.ok and result.total == 4  # only the change made with the gateway's key, and it verifies


async def test_a_trail_written_before_migration_0003_keeps_verifying_after_it(store_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from wardgate.store import engine as store_engine
    from wardgate.store.engine import upgrade

    def to_0002(connection: Any) -> None:
        command.upgrade(store_engine._alembic_config(connection), "0002")

    old = create_engine(store_url)
    try:
        async with old.connect() as conn:
            await conn.run_sync(to_0002)
            await conn.commit()
        prev = audit.GENESIS
        async with old.begin() as conn:  # rows as the old code wrote them: no v, no n
            for i in range(6):
                ts = datetime(2026, 11, 1, 12, 0, i, tzinfo=UTC)
                details = f'{{"i":{i}}}'
                digest = audit.row_hash(prev, ts, "master", "project.create", f"p{i}", details)
                await conn.execute(
                    text(
                        "INSERT INTO audit_log (ts, actor, action, target, details, prev_hash, hash) "
                        "VALUES (:ts, 'master', 'project.create', :target, :details, :prev, :hash)"
                    ),
                    {"ts": ts, "target": f"p{i}", "details": details, "prev": prev, "hash": digest},
                )
                prev = digest
        await upgrade(old)
        log = AuditLog(old, KEY)
        await fill(log, 4)
        await log.checkpoint()
        result = await audit.verify(old, KEY)
        assert result.ok and (result.total, result.anchored) == (10, 4)
        async with old.begin() as conn:  # an edit of a pre-migration row is still found
            await conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(details='{"i":42}'))
        assert await kinds(old) == [("edited", 2, 1)]
    finally:
        await old.dispose()
