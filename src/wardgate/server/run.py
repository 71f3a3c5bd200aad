"""``python -m wardgate.server``: what ``wardgate serve`` execs once the config is valid and the store migrated.

Raises the file-descriptor limit, prints the start banner, and runs uvicorn with the guarded protocol, the
server.* settings and a logging set-up that every worker process applies (``--workers N`` spawns them fresh).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import uvicorn

from wardgate.api.asgi import ASGIApp
from wardgate.config import Settings, load_config
from wardgate.config.loader import DEMO_CONFIG
from wardgate.server.access import AccessLog
from wardgate.server.fds import connection_cap, raise_fd_limit
from wardgate.server.guard import ConnectionGuard, ConnectionLimits
from wardgate.server.protocol import GuardedProtocolFactory

CONFIG_ENV = "WARDGATE_CONFIG"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("critical", "error", "warning", "info", "debug")
MAX_LISTED_MODELS = 20


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

    settings = load_config(os.environ.get(CONFIG_ENV) or DEMO_CONFIG)
    gateway: ASGIApp = create_app(settings)
    return AccessLog(gateway) if settings.server.access_log else gateway


def redact(url: str) -> str:
    """A store or Redis URL without its password (in the user part or a query parameter); otherwise as written."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        user, host = authority.rsplit("@", 1)
        if ":" in user:
            authority = user.split(":", 1)[0] + ":***@" + host
    path, question, query = path.partition("?")
    if question:
        pairs = [pair.partition("=") for pair in query.split("&")]
        query = "&".join(k + eq + ("***" if "pass" in k.lower() else v) for k, eq, v in pairs)
    return scheme + sep + authority + slash + path + question + query


def banner(path: Path, settings: Settings, args: argparse.Namespace, limits: ConnectionLimits, fd_limit: int) -> str:
    names = sorted(settings.models)
    listed = ", ".join(names[:MAX_LISTED_MODELS]) or "none"
    if len(names) > MAX_LISTED_MODELS:
        listed += f" (+{len(names) - MAX_LISTED_MODELS} more)"
    server = settings.server
    lines = [
        f"wardgate: serving {path} on http://{args.host}:{args.port}/v1 ({args.workers} worker"
        f"{'s' if args.workers != 1 else ''}, log level {args.log_level})",
        f"  models: {listed}",
        f"  store:  {redact(settings.store)}",
        f"  redis:  {redact(settings.redis.url) if settings.redis is not None else 'none (state is in-process)'}",
        f"  connections: at most {limits.max_connections} per worker (fd limit {fd_limit}); headers: "
        f"{limits.max_header_bytes} bytes, {limits.max_headers} fields, {limits.header_timeout_s:g}s; keep-alive "
        f"{server.keep_alive_timeout_s:g}s; access log {'on' if server.access_log else 'off'}",
    ]
    if limits.max_connections < server.max_connections:
        lines.append(
            f"  note: server.max_connections {server.max_connections} lowered to {limits.max_connections} to stay "
            "under the file-descriptor limit (raise the hard limit, e.g. `ulimit -Hn`, LimitNOFILE=)"
        )
    if path.resolve() == DEMO_CONFIG.resolve():
        lines.append("  the demo config: built-in mock provider; api key: $WARDGATE_MASTER_KEY or sk-wardgate-demo")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wardgate.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning", choices=LEVELS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path = Path(os.environ.get(CONFIG_ENV) or DEMO_CONFIG)
    settings = load_config(path)  # validated by `wardgate serve` already; read again for server.*
    server = settings.server
    fd_limit = raise_fd_limit()  # before the workers start: they inherit it
    limits = ConnectionLimits(
        max_connections=connection_cap(server.max_connections, fd_limit),
        header_timeout_s=server.header_timeout_s,
        max_header_bytes=server.max_header_bytes,
        max_headers=server.max_headers,
    )
    print(banner(path, settings, args, limits, fd_limit), file=sys.stderr, flush=True)
    os.environ[CONFIG_ENV] = str(path)
    # uvicorn types ``http`` as a protocol class; any callable building one per connection works the same way
    protocol = cast(type[asyncio.Protocol], GuardedProtocolFactory(ConnectionGuard(limits)))
    uvicorn.run(
        "wardgate.server.run:app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http=protocol,
        lifespan="on",
        access_log=False,
        log_config=log_config(args.log_level, server.access_log),
        log_level=args.log_level,
        server_header=False,
        date_header=False,
        timeout_keep_alive=int(server.keep_alive_timeout_s + 0.999),
    )
    return 0
