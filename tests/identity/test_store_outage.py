"""PostgreSQL out of reach (a proxy in front of it is cut): a real gateway process keeps serving keys it validated
recently, answers 503 with retry-after for anything it cannot check, never 500, and logs the outage in a few lines."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.identity.tcp_proxy import TCPProxy
from tests.limits.test_replicas import Replicas
from tests.services import PG_HOST, PG_PORT, create_postgres_database, drop_postgres_database, postgres_url
from wardgate.store.engine import create_engine, upgrade
from wardgate.store.keys import KeyStore
from wardgate.store.tenancy import TenancyStore

MASTER = "sk-outage-master-key"
# The usage ledger's batch writer (core/batching.py, not identity) reports its own failed flushes, with a traceback;
# this test counts what the request path logs, so that writer's records are left out.
LEDGER_WRITER = re.compile(
    r"usage-ledger: .*\n(?:Traceback \(most recent call last\):\n(?:[ \t].*\n|\n|Traceback .*\n|The above exception.*\n"
    r"|During handling.*\n|[\w.]+: .*\n(?=\n))*[\w.]+(?:: .*)?\n)?"
)
BODY = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def database() -> Iterator[str]:
    name = create_postgres_database()
    try:
        yield name
    finally:
        drop_postgres_database(name)


async def make_keys(store: str) -> tuple[str, str, str, str]:
    """Three keys, and the id of the third (revoked during the test)."""
    engine = create_engine(store)
    try:
        await upgrade(engine)
        project = await TenancyStore(engine).create_project("outage")
        keys = KeyStore(engine)
        (used, _), (unused, _), (revoked, record) = [await keys.create(project.id) for _ in range(3)]
        return used, unused, revoked, record.id
    finally:
        await engine.dispose()


async def revoke(store: str, key_id: str) -> None:
    engine = create_engine(store)
    try:
        await KeyStore(engine).revoke(key_id)
    finally:
        await engine.dispose()


def test_a_database_outage_keeps_recent_keys_working_and_answers_503_never_500(tmp_path: Path, database: str) -> None:
    direct = postgres_url(database)
    with TCPProxy(PG_HOST, PG_PORT) as proxy:
        via_proxy = f"postgresql://postgres@127.0.0.1:{proxy.port}/{database}"
        config = tmp_path / "wardgate.yaml"
        config.write_text(f"""
master_key: {MASTER}
store: "{via_proxy}"
identity: {{key_use_audit: none, key_cache_ttl_s: 0.2, stale_key_s: 30}}
providers:
  demo: {{type: mock}}
models:
  chat-model: [{{provider: demo, model: demo-chat}}]
""")
        used, unused, revoked, revoked_id = asyncio.run(make_keys(direct))
        replica = Replicas(config, via_proxy, count=1)
        replica.start()
        try:
            base = f"http://127.0.0.1:{replica.ports[0]}"
            with httpx.Client(base_url=base, timeout=10) as http:

                def chat(key: str) -> httpx.Response:
                    return http.post("/v1/chat/completions", json=BODY, headers={"authorization": f"Bearer {key}"})

                assert chat(used).status_code == 200
                assert chat(revoked).status_code == 200
                asyncio.run(revoke(direct, revoked_id))  # known to the gateway by NOTIFY, before the outage
                revoked_deadline = time.monotonic() + 5
                while chat(revoked).status_code != 401:
                    assert time.monotonic() < revoked_deadline
                log_before = replica.log.stat().st_size
                proxy.cut()
                statuses: dict[str, list[int]] = {"used": [], "unused": [], "revoked": [], "admin": []}
                unused_answer = None
                ends = time.monotonic() + 1.5  # several key cache TTLs: every lookup must go to the store
                while time.monotonic() < ends:
                    statuses["used"].append(chat(used).status_code)
                    answer = chat(unused)
                    statuses["unused"].append(answer.status_code)
                    unused_answer = answer
                    statuses["revoked"].append(chat(revoked).status_code)
                    admin = http.get("/admin/v1/keys", headers={"authorization": f"Bearer {MASTER}"})
                    statuses["admin"].append(admin.status_code)
                outage_log = replica.log.read_bytes()[log_before:].decode(errors="replace")
                proxy.restore()
                recovered_deadline = time.monotonic() + 10
                while chat(unused).status_code != 200:
                    assert time.monotonic() < recovered_deadline
                assert admin.json()["error"]["code"] == "store_unavailable"
        finally:
            replica.stop()
    assert set(statuses["used"]) == {200}, statuses["used"]  # validated 0.2+ s ago: served from the stale entry
    assert set(statuses["unused"]) == {503}  # never checked: cannot be vouched for, and it is not a 401 either
    assert set(statuses["revoked"]) == {401}  # a known revocation wins over the stale entry
    assert set(statuses["admin"]) == {503}
    assert unused_answer is not None and unused_answer.headers["retry-after"].isdigit()
    error = unused_answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "store_unavailable"
    ours = LEDGER_WRITER.sub("", outage_log)
    lines = [line for line in ours.splitlines() if line.strip()]
    assert len(lines) <= 10, ours
    assert "Traceback" not in ours
    assert "the store (database) unavailable" in ours
