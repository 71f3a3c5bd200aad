"""A stdio upstream's child process: the environment it gets, and its stderr kept bounded."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from typing import Any, TextIO

from wardgate.config.mcp import StdioServerConfig

log = logging.getLogger("wardgate.mcp")
STDERR_KEEP = 64 * 1024  # bytes of a stdio child's stderr kept for the log when it exits


def child_env(config: StdioServerConfig) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(config.env)
    return env


@contextlib.contextmanager
def bounded_stderr(name: str) -> Any:
    """The child's stderr goes to a temporary file; its last STDERR_KEEP bytes are logged when the session ends
    (a chatty child never grows memory or floods the log)."""
    handle: TextIO = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
    try:
        yield handle
    finally:
        try:  # the child wrote through the descriptor: read the file's end from it, in bytes
            fd = handle.fileno()
            size = os.fstat(fd).st_size
            tail = os.pread(fd, STDERR_KEEP, max(0, size - STDERR_KEEP)).decode("utf-8", "replace").strip()
            if tail:
                log.info("MCP upstream %s stderr (last %d bytes): %s", name, min(size, STDERR_KEEP), tail)
        finally:
            handle.close()
