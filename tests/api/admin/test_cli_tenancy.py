"""`wardgate teams`, `wardgate users` and `wardgate usage` against the store a running gateway uses."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from tests.api.admin.support import admin, chat, flush, unique
from tests.api.admin.test_cli import created_key, run
from tests.support import MASTER_KEY, RunningGateway


@pytest.fixture
def config(tmp_path: Path, store_path: Path, gateway: RunningGateway) -> str:
    path = tmp_path / "wardgate.yaml"
    # the gateway's audit key (master_key here), as test_cli.py's config has: without it the CLI refuses any change
    # once the gateway's first keyed audit row is written, which only a race with its batch writer used to avoid
    path.write_text(f"master_key: {MASTER_KEY}\nstore: sqlite:///{store_path}\n")
    return str(path)


def test_the_documented_key_for_a_team_and_a_user_works_as_written(
    gateway: RunningGateway, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project, team, email = unique("search"), unique("ranking"), f"{unique('ada')}@example.com"
    assert run(capsys, "projects", "create", project, "--config", config)[0] == 0
    code, out, _ = run(capsys, "teams", "create", project, team, "--config", config)
    assert code == 0 and team in out
    code, out, _ = run(capsys, "users", "create", email, "--name", "Ada", "--config", config)
    assert code == 0 and email in out
    code, out, err = run(
        capsys, "keys", "create", "--project", project, "--team", team, "--user", email, "--models", "chat",
        "--expires", "30d", "--name", "ci", "--config", config,
    )  # fmt: skip
    assert code == 0, err
    key, _ = created_key(out)
    assert chat(gateway, key).status_code == 200

    code, out, _ = run(capsys, "teams", "list", project, "--config", config)
    assert code == 0 and team in out
    code, out, _ = run(capsys, "users", "list", "--config", config)
    assert code == 0 and email in out and "Ada" in out
    with admin(gateway) as client:  # the admin API sees what the CLI made
        projects = client.get("/admin/v1/projects").json()["data"]
        project_id = next(p["id"] for p in projects if p["name"] == project)
        assert [t["name"] for t in client.get(f"/admin/v1/projects/{project_id}/teams").json()["data"]] == [team]
        assert client.get(f"/admin/v1/users/{email}").status_code == 200

    code, out, _ = run(capsys, "teams", "delete", project, team, "--config", config)
    assert code == 0 and "deleted" in out
    assert team not in run(capsys, "teams", "list", project, "--config", config)[1]
    code, out, _ = run(capsys, "users", "delete", email, "--config", config)
    assert code == 0 and email not in run(capsys, "users", "list", "--config", config)[1]
    code, _, err = run(capsys, "users", "delete", email, "--config", config)
    assert code == 1 and "no user" in err
    code, _, err = run(capsys, "teams", "create", "no-such-project", "x", "--config", config)
    assert code == 1 and "no project" in err


def test_usage_sums_the_ledger_by_project_team_key_and_model(
    gateway: RunningGateway, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = unique("spend")
    run(capsys, "projects", "create", project, "--config", config)
    key, key_id = created_key(run(capsys, "keys", "create", "--project", project, "--config", config)[1])
    for model in ("chat", "chat", "other"):
        assert chat(gateway, key, model).status_code == 200
    flush(gateway)

    code, out, _ = run(
        capsys, "usage", "--by", "key,model", "--project", project, "--format", "json", "--config", config
    )
    assert code == 0
    report = json.loads(out)
    by_model = {row["model"]: row for row in report["rows"]}
    assert {row["key"] for row in report["rows"]} == {key_id}
    assert by_model["chat"]["requests"] == 2 and by_model["other"]["requests"] == 1
    assert report["totals"]["requests"] == 3
    assert float(report["totals"]["cost_usd"]) > 0

    code, out, _ = run(capsys, "usage", "--by", "project", "--since", "1h", "--format", "csv", "--config", config)
    rows = {r["project"]: r for r in csv.DictReader(io.StringIO(out))}
    project_id = next(iter(by_model.values()))  # any row: the project is the key's
    assert code == 0 and any(int(r["requests"]) == 3 for r in rows.values()), project_id
    code, out, _ = run(capsys, "usage", "--by", "team", "--project", project, "--config", config)
    assert code == 0 and re.search(r"^total\s+3\s", out, re.M)
    code, out, _ = run(capsys, "usage", "--since", "2001-01-01", "--until", "2001-02-01", "--config", config)
    assert code == 0 and re.search(r"^total\s+0\s", out, re.M)
    code, _, err = run(capsys, "usage", "--by", "colour", "--config", config)
    assert code == 1 and "--by" in err
