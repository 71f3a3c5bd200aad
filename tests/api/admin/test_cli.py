"""The store commands of the CLI against the store a running gateway uses."""

from __future__ import annotations

import csv
import io
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.api.admin.support import chat, flush, unique
from tests.support import MASTER_KEY, RunningGateway
from wardgate import cli
from wardgate.store.tables import audit_log
from wardgate.store.usage import by_request_id


@pytest.fixture
def config(tmp_path: Path, store_path: Path, gateway: RunningGateway) -> str:  # the gateway made the store
    path = tmp_path / "wardgate.yaml"
    # only store: and the audit key (master_key here) are read; a provider whose key is unset does not stop the CLI
    providers = 'providers:\n  up: {type: openai, api_key: "${UNSET_KEY}"}\n'
    path.write_text(f"master_key: {MASTER_KEY}\nstore: sqlite:///{store_path}\n" + providers)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def created_key(out: str) -> tuple[str, str]:
    key = re.search(r"^key\s+(\S+)$", out, re.M)
    key_id = re.search(r"^id\s+(\S+)$", out, re.M)
    assert key and key_id, out
    return key.group(1), key_id.group(1)


def test_a_key_created_by_the_cli_works_on_the_running_gateway(
    gateway: RunningGateway, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = unique("cli")
    code, out, _ = run(capsys, "projects", "create", name, "--cost-center", "CC-1", "--config", config)
    assert code == 0 and name in out
    code, out, err = run(
        capsys,
        "keys",
        "create",
        "--project",
        name,
        "--models",
        "chat",
        "--expires",
        "30d",
        "--name",
        "ci",
        "--config",
        config,
    )
    assert code == 0 and "shown only now" in err
    key, key_id = created_key(out)
    assert key.startswith("sk-wg-") and re.search(r"^prefix\s+" + re.escape(key[:12]) + "$", out, re.M)
    assert chat(gateway, key).status_code == 200
    assert chat(gateway, key, "other").status_code in (403, 404)

    code, out, _ = run(capsys, "keys", "list", "--project", name, "--config", config)
    assert code == 0 and key_id in out and key[:12] in out and key not in out and "active" in out
    code, out, _ = run(capsys, "projects", "list", "--config", config)
    assert name in out and "CC-1" in out

    async def cli_entries() -> list[tuple[str, str]]:
        async with gateway.worker.engine.connect() as conn:
            result = await conn.execute(
                select(audit_log.c.action, audit_log.c.details).where(audit_log.c.actor == "cli")
            )
            return [(r.action, r.details) for r in result]

    entries = gateway.run(cli_entries())
    assert {"project.create", "key.create"} <= {action for action, _ in entries}
    assert all(key not in details for _, details in entries)


def test_revoke_and_rotate_from_the_cli(
    gateway: RunningGateway, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = unique("cli")
    run(capsys, "projects", "create", name, "--config", config)
    first, first_id = created_key(run(capsys, "keys", "create", "--project", name, "--config", config)[1])
    code, out, _ = run(capsys, "keys", "rotate", first_id, "--overlap", "0h", "--config", config)
    assert code == 0
    second, second_id = created_key(out)
    assert chat(gateway, first).status_code == 401  # never cached, no overlap
    assert chat(gateway, second).status_code == 200
    code, out, _ = run(capsys, "keys", "revoke", second_id, "--config", config)
    assert code == 0 and "revoked" in out
    code, _, err = run(capsys, "keys", "rotate", second_id, "--config", config)
    assert code == 1 and "revoked" in err
    code, _, err = run(capsys, "keys", "revoke", "key_nope", "--config", config)
    assert code == 1 and "no key" in err


def test_export_chargeback_csv_is_the_months_ledger(
    gateway: RunningGateway, config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = unique("billing")
    run(capsys, "projects", "create", name, "--cost-center", "CC-77", "--config", config)
    key, _ = created_key(run(capsys, "keys", "create", "--project", name, "--config", config)[1])
    ids = [chat(gateway, key, model, "a b c d").headers["x-wardgate-request-id"] for model in ("chat", "chat", "other")]
    assert chat(gateway, key, "no-such-model").status_code == 404  # refused: on the record, never charged
    flush(gateway)
    rows = [gateway.run(by_request_id(gateway.worker.engine, i)) for i in ids]
    month = datetime.now(UTC).strftime("%Y-%m")

    output = tmp_path / "chargeback.csv"
    code, _, err = run(capsys, "export", "chargeback", "--month", month, "--output", str(output), "--config", config)
    assert code == 0 and str(output) in err
    exported = [r for r in csv.DictReader(io.StringIO(output.read_text())) if r["project"] == name]
    assert list(exported[0]) == ["project_id", "project", "cost_center", "model", "requests", "tokens", "cost_usd"]
    for line in exported:
        mine = [r for r in rows if r is not None and r["model"] == line["model"]]
        assert line["cost_center"] == "CC-77" and int(line["requests"]) == len(mine)
        assert int(line["tokens"]) == sum(r["input_tokens"] + r["output_tokens"] for r in mine)
        nanos = sum(r["cost_nanousd"] for r in mine)
        assert line["cost_usd"] == f"{nanos // 10**9}.{nanos % 10**9:09d}" and nanos > 0
    assert sorted(line["model"] for line in exported) == ["chat", "other"]

    code, out, _ = run(capsys, "export", "chargeback", "--month", "1999-01", "--config", config)
    assert code == 0 and out == "project_id,project,cost_center,model,requests,tokens,cost_usd\n"


def test_export_chargeback_parquet(config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    output = tmp_path / "chargeback.parquet"
    month = datetime.now(UTC).strftime("%Y-%m")
    assert (
        run(
            capsys,
            "export",
            "chargeback",
            "--month",
            month,
            "--format",
            "parquet",
            "--output",
            str(output),
            "--config",
            config,
        )[0]
        == 0
    )
    table = pq.read_table(output)
    assert table.column_names == ["project_id", "project", "cost_center", "model", "requests", "tokens", "cost_usd"]
    assert str(table.schema.field("cost_usd").type) == "decimal128(38, 9)"


def test_parquet_without_pyarrow_says_what_to_install(
    config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    code, _, err = run(
        capsys,
        "export",
        "chargeback",
        "--month",
        "2026-11",
        "--format",
        "parquet",
        "--output",
        str(tmp_path / "x.parquet"),
        "--config",
        config,
    )
    assert code == 1 and "pip install pyarrow" in err


def test_cli_errors_are_one_line_and_exit_1(config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "export", "chargeback", "--month", "2026-13", "--config", config)[0] == 1
    code, _, err = run(capsys, "export", "chargeback", "--month", "2026-11", "--format", "parquet", "--config", config)
    assert code == 1 and "--output" in err
    code, _, err = run(capsys, "keys", "create", "--project", "no-such-project", "--config", config)
    assert code == 1 and err.strip() == "wardgate: no project 'no-such-project'"
    code, _, err = run(capsys, "keys", "create", "--project", "x", "--expires", "2001-01-01", "--config", config)
    assert code == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("store: mysql://nope\n")
    code, _, err = run(capsys, "projects", "list", "--config", str(bad))
    assert code == 1 and "store" in err
    code, _, err = run(capsys, "projects", "list", "--config", str(tmp_path / "missing.yaml"))
    assert code == 1 and "cannot read" in err


def test_db_upgrade_reports_the_schema(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "db", "upgrade", "--config", config)
    assert code == 0 and "newest migration" in out


def test_without_a_config_the_cli_says_so_and_creates_no_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WARDGATE_CONFIG", raising=False)
    code, _, err = run(capsys, "projects", "list")
    assert code == 2 and "--config" in err and "WARDGATE_CONFIG" in err
    elsewhere = tmp_path / "elsewhere.yaml"  # names a relative store that is not here
    elsewhere.write_text("store: sqlite:///wardgate.db\n")
    code, _, err = run(capsys, "keys", "list", "--config", str(elsewhere))
    assert code == 2 and "does not exist" in err and "db upgrade" in err
    assert list(tmp_path.iterdir()) == [elsewhere]  # no empty wardgate.db left behind


def test_the_cli_finds_the_store_through_wardgate_config(
    config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WARDGATE_CONFIG", config)
    name = unique("via-env")
    assert run(capsys, "projects", "create", name)[0] == 0
    assert name in run(capsys, "projects", "list", "--config", config)[1]
    assert not (tmp_path / "wardgate.db").exists()


def test_db_upgrade_creates_a_new_store(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.yaml"
    fresh.write_text(f"store: sqlite:///{tmp_path / 'new.db'}\n")
    assert run(capsys, "db", "upgrade", "--config", str(fresh))[0] == 0
    assert run(capsys, "projects", "create", "first", "--config", str(fresh))[0] == 0
