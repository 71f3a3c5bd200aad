"""The directory through which `wardgate serve --workers N` sums the workers' counters: in memory where the system
has /dev/shm, and removed when the server ends only if the server made it."""

from __future__ import annotations

from pathlib import Path

import pytest

from wardgate.cli import _metrics_dir
from wardgate.server.run import METRICS_DIR_OWNED_ENV, _remove_metrics_dir


def test_a_made_directory_is_in_memory_when_the_system_has_dev_shm() -> None:
    made = Path(_metrics_dir(None))
    try:
        assert made.is_dir() and made.name.startswith("wardgate-metrics-")
        shm = Path("/dev/shm")
        if shm.is_dir():
            assert made.parent == shm
    finally:
        made.rmdir()


def test_a_chosen_directory_is_emptied_of_old_counts_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = tmp_path / "counts"
    chosen.mkdir()
    (chosen / "old.json").write_text("[]")
    (chosen / "notes.txt").write_text("the operator's")
    assert _metrics_dir(str(chosen)) == str(chosen)
    assert [p.name for p in chosen.iterdir()] == ["notes.txt"]
    monkeypatch.setenv("WARDGATE_METRICS_DIR", str(chosen))
    monkeypatch.delenv(METRICS_DIR_OWNED_ENV, raising=False)
    _remove_metrics_dir()
    assert chosen.is_dir()  # named by the operator: never removed


def test_a_made_directory_is_removed_when_the_server_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    made = Path(_metrics_dir(None))
    (made / "123-abc.json").write_text("[]")
    monkeypatch.setenv("WARDGATE_METRICS_DIR", str(made))
    monkeypatch.setenv(METRICS_DIR_OWNED_ENV, "1")
    _remove_metrics_dir()
    assert not made.exists()
