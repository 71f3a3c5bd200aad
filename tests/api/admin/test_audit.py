"""The audit trail's integrity check, through the API and the CLI, before and after a row is tampered with."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from tests.api.admin.support import create_project, flush
from tests.support import MASTER_KEY, RunningGateway
from wardgate import cli
from wardgate.store.tables import audit_log


def _config(tmp_path: Path, store_path: Path) -> str:
    path = tmp_path / "wardgate.yaml"
    path.write_text(f"master_key: {MASTER_KEY}\nstore: sqlite:///{store_path}\n")  # the gateway's audit key
    return str(path)


def test_verify_is_ok_then_names_the_tampered_row(
    gateway: RunningGateway, client: httpx.Client, store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        create_project(client)
    flush(gateway)
    ok = client.get("/admin/v1/audit/verify")
    assert ok.status_code == 200
    assert ok.json()["ok"] is True and ok.json()["rows"] >= 3 and ok.json()["problem"] is None
    config = _config(tmp_path, store_path)
    assert cli.main(["audit", "verify", "--config", config]) == 0
    assert "audit trail ok" in capsys.readouterr().out

    async def tamper() -> int:
        async with gateway.worker.engine.begin() as conn:
            await conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(details='{"name":"forged"}'))
        return 2

    seq = gateway.run(tamper())
    broken = client.get("/admin/v1/audit/verify").json()
    assert (broken["ok"], broken["seq"], broken["rows"]) == (False, seq, 1)
    assert broken["problem"] == "the row was edited"
    assert cli.main(["audit", "verify", "--config", config]) == 1
    err = capsys.readouterr().err
    assert f"seq={seq}" in err and "the row was edited" in err
