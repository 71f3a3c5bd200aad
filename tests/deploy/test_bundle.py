"""`wardgate bundle --output DIR`: the chart, the image list and the digests of an offline-install artifact (the
wheels part runs the Dockerfile's own build step and needs a registry: `wardgate bundle` without `--no-wheels`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from wardgate.cli import main


def test_the_bundle_holds_the_chart_the_images_and_their_digests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle"
    assert main(["bundle", "--output", str(out), "--no-wheels"]) == 0
    assert (out / "chart" / "wardgate" / "Chart.yaml").exists()
    assert {p.name for p in (out / "chart" / "wardgate").glob("values*")} == {
        "values.yaml", "values-ha.yaml", "values-airgap.yaml", "values.schema.json",
    }  # fmt: skip
    images = (out / "images.txt").read_text().split()
    assert images[0].startswith("wardgate:")
    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    assert set(images[1:]) == {s["image"] for s in compose["services"].values() if "build" not in s}
    sums = dict(reversed(line.split("  ", 1)) for line in (out / "SHA256SUMS").read_text().splitlines())
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "SHA256SUMS"}
    assert set(sums) == files
    for name, digest in sums.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert "images to mirror" in capsys.readouterr().out


def test_the_bundle_refuses_a_directory_that_is_not_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "something").write_text("x")
    assert main(["bundle", "--output", str(tmp_path), "--no-wheels"]) == 2
    assert "not empty" in capsys.readouterr().err
