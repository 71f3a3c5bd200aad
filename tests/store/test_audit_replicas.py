"""Two real gateway processes on the real PostgreSQL write one audit trail at once: it verifies with the key, its
checkpoints (periodic and at shutdown) cover every row, every key use is counted in it (allowed uses as one row per
key and model per flush, denied ones a row each), and deleting its last 50 rows is reported as truncation."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from tests.fakes.openai import FakeOpenAI
from tests.limits.test_replicas import Replicas, fire, prepare_store
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url
from wardgate.store import audit
from wardgate.store.engine import create_engine
from wardgate.store.tables import audit_log

MASTER = "sk-replica-master-key"
AUDIT_KEY = "audit-" + "k" * 40


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as f:
        yield f


async def verify_then_truncate(store: str) -> tuple[audit.VerifyResult, int, audit.VerifyResult, int]:
    key = audit.audit_key(AUDIT_KEY, None)
    engine = create_engine(store)
    try:
        clean = await audit.verify(engine, key)
        async with engine.begin() as conn:
            allowed = (
                await conn.execute(select(audit_log.c.details).where(audit_log.c.action == "key.use.allowed"))
            ).scalars()
            uses = sum(json.loads(details)["uses"] for details in allowed)
            top = (await conn.execute(select(func.max(audit_log.c.seq)))).scalar_one()
            await conn.execute(delete(audit_log).where(audit_log.c.seq > top - 50))
        return clean, top, await audit.verify(engine, key), uses
    finally:
        await engine.dispose()


def test_two_replicas_keep_one_anchored_chain_and_a_deleted_tail_is_found(fake: FakeOpenAI, tmp_path: Path) -> None:
    database = create_postgres_database()
    store = postgres_url(database)
    config = tmp_path / "wardgate.yaml"
    config.write_text(f"""
master_key: {MASTER}
store: "{store}"
redis: {{url: "{redis_url()}", key_prefix: "wgaudit-{uuid.uuid4().hex[:8]}:"}}
ledger: {{flush_interval_s: 0.1, max_batch: 7}}
audit: {{hmac_key: "{AUDIT_KEY}", checkpoint_interval_s: 0.2}}
identity: {{key_use_audit: all}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  priced: [{{provider: up, model: gpt-4o-mini, price: {{input: 1000, output: 1000}}}}]
""")
    replicas = Replicas(config, store)
    try:
        _, key = asyncio.run(prepare_store(store, "audited"))
        replicas.start()
        statuses = asyncio.run(fire(replicas.ports, key, 200))  # every call audits its key use, on both replicas
        denied = asyncio.run(fire(replicas.ports, key[:-4] + "zzzz", 200))
    finally:
        replicas.stop()  # SIGTERM: each replica writes its last batch and a checkpoint of the head
    try:
        clean, top, truncated, uses = asyncio.run(verify_then_truncate(store))
    finally:
        drop_postgres_database(database)
    assert statuses.count(200) == 200 and denied.count(401) == 200
    assert uses == 200  # every allowed use is counted in the trail
    assert clean.ok, [f.describe() for f in clean.findings]
    assert clean.total == clean.anchored >= 200 and clean.checkpoints >= 2
    assert [(f.kind, f.first_seq, f.rows) for f in truncated.findings] == [("truncated", top - 50, 50)]
