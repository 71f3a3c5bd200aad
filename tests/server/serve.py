"""A real ``wardgate serve`` process on loopback, its stderr captured to a file the test can read."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _limit_fds(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(
        self,
        config: Path,
        *args: str,
        fd_limit: int | None = None,
        wait: bool = True,
        env: dict[str, str | None] | None = None,
    ) -> None:
        """``fd_limit``: the server's RLIMIT_NOFILE (soft and hard), to show what happens when descriptors are few;
        ``wait=False``: return at once (start several in parallel), then call ``wait_ready``; ``env``: variables to
        set in the server's environment (None: removed)."""
        environ = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for name, value in (env or {}).items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.log = config.with_suffix(".log")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wardgate.cli",
                    "serve",
                    "--config",
                    str(config),
                    "--port",
                    str(self.port),
                    *args,
                ],
                env=environ,
                stdout=out,
                stderr=out,
                start_new_session=True,
                preexec_fn=None if fd_limit is None else lambda: _limit_fds(fd_limit),
            )
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 90
        while True:  # an external process: poll its readiness, bounded
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text())
            try:
                if httpx.get(self.root + "/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"wardgate serve did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while needle not in (text := self.text()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not in the log:\n{text[-3000:]}")
            time.sleep(0.05)
        return text

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
