"""``python -m wardgate.server``: what ``wardgate serve`` execs once the config is valid, the store migrated, the
file-descriptor limit raised and the banner printed.

Runs uvicorn with the guarded protocol, the server.* settings (passed as JSON by ``wardgate serve``, so this process,
the supervisor of ``--workers N``, never imports the config schema) and a logging set-up that every worker process
applies (they are spawned fresh). Each worker builds the app from WARDGATE_CONFIG.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from wardgate.api.asgi import ASGIApp
from wardgate.server.drain import Drain, Supervisor, graceful_shutdown_s
from wardgate.server.fds import BACKLOG
from wardgate.server.guard import ConnectionGuard, ConnectionLimits
from wardgate.server.protocol import GuardedProtocolFactory

CONFIG_ENV = "WARDGATE_CONFIG"
WATCH_ENV = "WARDGATE_WATCH"  # "1": `wardgate serve --watch`
METRICS_DIR_OWNED_ENV = "WARDGATE_METRICS_DIR_OWNED"  # "1": `wardgate serve` made the metrics directory
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("critical", "error", "warning", "info", "debug")


def websocket_protocol(*args: Any, **kwargs: Any) -> asyncio.Protocol:
    """uvicorn's own choice of WebSocket protocol (``ws: auto``), imported at the first upgrade (``/v1/realtime``):
    the websockets library costs every worker about 4 MB of RSS, and most gateways never see an upgrade."""
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

    if AutoWebSocketsProtocol is None:  # neither websockets nor wsproto: a dependency of wardgate, so not expected
        raise RuntimeError("no WebSocket library is installed")
    return AutoWebSocketsProtocol(*args, **kwargs)


def log_config(level: str, access_log: bool) -> dict[str, Any]:
    """One handler on stderr for every logger; ``level`` for ours and uvicorn's, and the access log (when on) at
    INFO whatever the level, since the config asked for it."""
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"format": LOG_FORMAT}, "access": {"format": LOG_FORMAT}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": upper},
        "loggers": {
            "wardgate": {"level": upper},
            "uvicorn": {"level": upper},
            "wardgate.access": {"level": "INFO" if access_log else "WARNING"},
        },
    }


def app() -> ASGIApp:
    """The uvicorn factory each worker calls: the gateway named by WARDGATE_CONFIG, behind the access log if on."""
    from wardgate.app import create_app
    from wardgate.config import load_config_text
    from wardgate.config.loader import DEMO_CONFIG
    from wardgate.reload.reloader import digest
    from wardgate.server.access import AccessLog

    # until the worker's hot reload listens for it (app.py), SIGHUP must not end it (its default action)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    path = Path(os.environ.get(CONFIG_ENV) or DEMO_CONFIG)
    raw = path.read_bytes()  # once: the digest names exactly what was loaded, for hot reload to compare against
    settings = load_config_text(raw.decode("utf-8"), source=str(path))
    gateway = create_app(settings)
    gateway.config_path = path
    gateway.config_digest = digest(raw)
    gateway.watch = os.environ.get(WATCH_ENV) == "1"
    return AccessLog(gateway) if settings.server.access_log else gateway


def server_args(
    limits: ConnectionLimits, keep_alive_timeout_s: float, access_log: bool, drain_timeout_s: float = 30.0
) -> str:
    """The server settings ``wardgate serve`` hands to this process (``--server``)."""
    return json.dumps(
        {
            "limits": asdict(limits),
            "keep_alive_timeout_s": keep_alive_timeout_s,
            "access_log": access_log,
            "drain_timeout_s": drain_timeout_s,
        }
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wardgate.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning", choices=LEVELS)
    parser.add_argument("--server", required=True, help="JSON from server_args()")
    return parser


def _remove_metrics_dir() -> None:
    """The directory ``wardgate serve`` made for this run's summed counters (never one the operator named)."""
    path = os.environ.get("WARDGATE_METRICS_DIR")
    if path and os.environ.get(METRICS_DIR_OWNED_ENV) == "1":
        shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    server = json.loads(args.server)
    limits = ConnectionLimits(**server["limits"])
    # uvicorn types ``http`` as a protocol class; any callable building one per connection works the same way
    drain = Drain(server["drain_timeout_s"])
    protocol = cast(type[asyncio.Protocol], GuardedProtocolFactory(ConnectionGuard(limits), drain))
    config = uvicorn.Config(
        "wardgate.server.run:app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http=protocol,
        ws=cast(Any, websocket_protocol),
        lifespan="on",
        backlog=BACKLOG,
        access_log=False,
        log_config=log_config(args.log_level, server["access_log"]),
        log_level=args.log_level,
        server_header=False,
        date_header=False,
        timeout_keep_alive=math.ceil(server["keep_alive_timeout_s"]),
        timeout_graceful_shutdown=graceful_shutdown_s(drain.timeout_s),  # a backstop: the drain ends requests first
    )
    if args.workers > 1:
        try:
            Supervisor(config, sockets=[config.bind_socket()]).run()
        finally:
            _remove_metrics_dir()
        return 0
    config.load_app()
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else STARTUP_FAILURE
