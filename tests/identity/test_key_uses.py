"""Allowed key uses are counted between audit flushes: one row per key and model with the number of uses, bounded
whatever model names clients send, and written by the audit writer with the rest of its batch."""

from __future__ import annotations

from collections.abc import Sequence

from wardgate.core.batching import BatchWriter
from wardgate.identity import key_uses
from wardgate.identity.key_uses import KeyUseTally
from wardgate.store.audit import AuditEntry


def test_uses_are_counted_per_key_and_model_then_forgotten() -> None:
    tally = KeyUseTally()
    for _ in range(5):
        tally.add("k1", "gpt-4o")
    tally.add("k1", "claude")
    tally.add("k2", "gpt-4o")
    rows = {(e.target, e.details["model"]): e for e in tally.drain() if e.details}
    assert {k: e.details["uses"] for k, e in rows.items() if e.details} == {
        ("k1", "gpt-4o"): 5,
        ("k1", "claude"): 1,
        ("k2", "gpt-4o"): 1,
    }
    first = rows[("k1", "gpt-4o")]
    assert (first.actor, first.action) == ("key:k1", "key.use.allowed")
    assert first.details is not None and first.details["first"] <= first.details["last"]
    assert tally.drain() == []


def test_hostile_model_names_are_bounded(monkeypatch: object) -> None:
    tally = KeyUseTally()
    tally.add("k1", "x" * 100_000)
    (row,) = tally.drain()
    assert row.details is not None and len(row.details["model"]) == 200
    for i in range(key_uses.MAX_GROUPS + 500):
        tally.add("k1", f"model-{i}")
    rows = tally.drain()
    assert len(rows) == key_uses.MAX_GROUPS + 1  # the overflow is counted under the key, model null
    overflow = [r for r in rows if r.details is not None and r.details["model"] is None]
    assert overflow[0].details is not None and overflow[0].details["uses"] == 500


async def test_the_audit_writer_drains_the_tally_at_each_flush() -> None:
    written: list[AuditEntry] = []

    async def write(batch: Sequence[AuditEntry]) -> None:
        written.extend(batch)

    tally = KeyUseTally()
    writer: BatchWriter[AuditEntry] = BatchWriter("audit", write, interval_s=60)
    writer.add_source(tally.drain)
    writer.start()
    for _ in range(3):
        tally.add("k1", "m")
    writer.put(AuditEntry("key:k9", "key.use.denied", "k9", {"reason": "revoked"}))
    await writer.flush()
    tally.add("k1", "m")
    await writer.stop()
    assert [(e.action, (e.details or {}).get("uses")) for e in written] == [
        ("key.use.denied", None),
        ("key.use.allowed", 3),
        ("key.use.allowed", 1),
    ]
