"""The other worker processes of this server on this host, for the MCP backchannel without Redis (backchannel.py).

``wardgate serve --workers N`` gives its workers one private directory (``WARDGATE_MCP_PEERS_DIR``, made by
``serve``, mode 0700). Each worker listens there on a Unix socket named by a random token, and puts that token in
the ids it mints for relayed requests (``wg-<token>.<random>``). A client's answer that reaches another worker is
handed to the worker its id names, over that socket; the holder checks it as it checks its own (the principal and
session that were asked, an id still waiting) and says whether it took it. A cancellation for a call no worker here
holds is offered to every worker in the directory. Only what the id names is ever connected to: a token that is not
one of ours (not hex, not there) is not accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("wardgate.mcp")
PEERS_DIR_ENV = "WARDGATE_MCP_PEERS_DIR"
TOKEN = re.compile(r"[0-9a-f]{16}")
CONNECT_S = 2.0  # a worker that does not answer within this is treated as gone
_LENGTH = struct.Struct("!I")
Handle = Callable[[dict[str, Any]], Awaitable[bool]]


class WorkerPeers:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.token = secrets.token_hex(8)
        self._dir = directory
        self._path = directory / f"{self.token}.sock"
        self._max = max_bytes + 4096  # an answer the surface took, and its envelope
        self._server: asyncio.AbstractServer | None = None
        self._handle: Handle | None = None

    @classmethod
    def from_env(cls, max_bytes: int) -> WorkerPeers | None:
        directory = os.environ.get(PEERS_DIR_ENV)
        return cls(Path(directory), max_bytes) if directory else None

    async def start(self, handle: Handle) -> bool:
        """Listens for the other workers; False (logged) when the socket cannot be made."""
        self._handle = handle
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self._path))
            os.chmod(self._path, 0o600)
        except OSError as exc:
            log.warning("MCP backchannel: no socket for the other workers in %s (%s)", self._dir, exc)
            self._server = None
            return False
        return True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(OSError):
                self._path.unlink()

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def send(self, token: str, message: dict[str, Any]) -> bool:
        """Hands ``message`` to the worker ``token`` names; True when it took it."""
        if not TOKEN.fullmatch(token) or token == self.token:
            return False
        return await self._send(self._dir / f"{token}.sock", orjson.dumps(message))

    async def broadcast(self, message: dict[str, Any]) -> None:
        """Offers ``message`` to every other worker in the directory."""
        body = orjson.dumps(message)
        try:
            paths = [p for p in self._dir.glob("*.sock") if TOKEN.fullmatch(p.stem) and p.stem != self.token]
        except OSError:
            return
        await asyncio.gather(*(self._send(path, body) for path in paths[:256]))

    async def _send(self, path: Path, body: bytes) -> bool:
        writer = None
        try:
            async with asyncio.timeout(CONNECT_S):
                reader, writer = await asyncio.open_unix_connection(str(path))
                writer.write(_LENGTH.pack(len(body)) + body)
                await writer.drain()
                return await reader.readexactly(1) == b"1"
        except (OSError, TimeoutError, asyncio.IncompleteReadError):  # gone (a stale socket), or it did not say
            return False
        finally:
            if writer is not None:
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        taken = False
        try:
            async with asyncio.timeout(CONNECT_S):
                (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
                if size <= self._max:
                    data = orjson.loads(await reader.readexactly(size))
                    if isinstance(data, dict) and self._handle is not None:
                        taken = await self._handle(data)
            writer.write(b"1" if taken else b"0")
            await writer.drain()
        except Exception as exc:  # noqa: BLE001 - one bad message never stops the listener
            log.debug("MCP backchannel: a message from another worker was not handled (%s)", type(exc).__name__)
        finally:
            writer.close()
