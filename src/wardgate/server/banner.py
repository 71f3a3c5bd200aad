"""The start banner ``wardgate serve`` prints: the config file, models, store and Redis (passwords hidden), and the
connection limits in force."""

from __future__ import annotations

import argparse
from pathlib import Path

from wardgate.config import Settings
from wardgate.config.loader import DEMO_CONFIG
from wardgate.server.guard import ConnectionLimits

MAX_LISTED_MODELS = 20


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
