"""`wardgate prompts …` against a running gateway's admin API: push is idempotent (also for a directory, as CI syncs
it), promote/approve move a protected label with two reviewers, rollback and diff (issue 17, CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.api.admin.support import unique
from tests.prompts.support import SUPPORT_V1, Team, variant
from tests.support import RunningGateway
from wardgate import cli


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_push_promote_approve_rollback_and_diff(
    gateway: RunningGateway, team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = unique("cli-prompt")
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "support.yaml").write_text(yaml.safe_dump({"name": name, **SUPPORT_V1}))
    (folder / "other.yaml").write_text(yaml.safe_dump({"name": name + "-b", **SUPPORT_V1}))
    as_user = [["--url", gateway.root, "--key", k, "--project", team.project] for k in team.user_keys]

    code, out, err = _run(capsys, "prompts", "push", str(folder), *as_user[0])
    assert code == 0, err
    assert out.count("(created)") == 2
    code, out, _ = _run(capsys, "prompts", "push", str(folder / "support.yaml"), *as_user[0])
    assert code == 0 and "version 1" in out and "(unchanged)" in out
    (folder / "support.yaml").write_text(yaml.safe_dump({"name": name, **variant(SUPPORT_V1, "Be terse.")}))
    assert "version 2" in _run(capsys, "prompts", "push", str(folder / "support.yaml"), *as_user[0])[1]

    code, out, _ = _run(capsys, "prompts", "promote", name, "--label", "production", "--version", "1", *as_user[0])
    assert code == 0 and "pending, needs 2 approvals" in out
    pid = out.split()[1].rstrip(":")
    code, _, err = _run(capsys, "prompts", "approve", pid, *as_user[0])
    assert code == 1 and "403" in err  # the author
    assert "1 of 2" in _run(capsys, "prompts", "approve", pid, *as_user[1])[1]
    assert "applied (2 of 2" in _run(capsys, "prompts", "approve", pid, *as_user[2])[1]
    code, out, _ = _run(capsys, "prompts", "promote", name, "--label", "dev", "--version", "2", *as_user[0])
    assert "applied" in out

    _run(capsys, "prompts", "promote", name, "--label", "dev", "--version", "1", *as_user[0])
    code, out, _ = _run(capsys, "prompts", "rollback", name, "--label", "dev", *as_user[1])
    assert code == 0 and f"{name}@dev →" in out
    with team.as_user(0) as client:
        labels = {lb["label"]: lb for lb in client.get(f"/admin/v1/prompts/{name}").json()["labels"]}
        versions = client.get(f"/admin/v1/prompts/{name}/versions").json()["data"]
    assert labels["dev"]["version"] == versions[1]["id"] and labels["production"]["version"] == versions[0]["id"]

    code, out, _ = _run(capsys, "prompts", "diff", name, "1", "2", *as_user[0])
    assert code == 0 and "\n-- content: 'You help {{ customer.name }}" in out and "\n+- content: Be terse.\n" in out
    code, _, err = _run(capsys, "prompts", "diff", name, "1", "2", "--url", gateway.root, *as_user[0][2:4])
    assert code == 1 and "403" in err  # no --project: system-wide prompts, which this project admin may not read
