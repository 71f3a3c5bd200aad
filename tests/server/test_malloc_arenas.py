"""`wardgate serve` caps glibc's malloc arenas at two for the server and its workers (MALLOC_ARENA_MAX), unless the
operator set a value: a worker's SQLite driver threads otherwise each get an arena, whose freed memory stays in RSS
(issue 15, point 2; docs/operations.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.server.serve import Served

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def _tree(pid: int) -> list[int]:
    """The server and every process under it (its workers and multiprocessing's helper)."""
    pids, out = [pid], []
    while pids:
        current = pids.pop()
        out.append(current)
        children = Path(f"/proc/{current}/task/{current}/children")
        if children.exists():
            pids.extend(int(c) for c in children.read_text().split())
    return out


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "wardgate.yaml"
    config.write_text(f"master_key: sk-arena-master-key\nstore: sqlite:///{tmp_path / 'w.db'}\n")
    return config


@pytest.mark.parametrize(("given", "expected"), [(None, "2"), ("8", "8")])
def test_every_serving_process_runs_with_the_arena_cap(tmp_path: Path, given: str | None, expected: str) -> None:
    served = Served(_config(tmp_path), "--workers", "2", env={"MALLOC_ARENA_MAX": given})
    try:
        processes = _tree(served.proc.pid)
        assert len(processes) >= 3  # the server (exec'd by the CLI in place) and its two workers
        assert {_environ(pid).get("MALLOC_ARENA_MAX") for pid in processes} == {expected}
    finally:
        served.stop()
