"""``wardgate serve | config check | config apply``, and the store commands of cli_admin.py (keys, projects, db,
audit, export)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from wardgate import __version__, cli_args, cli_guards
from wardgate.config import ConfigError, load_config
from wardgate.config.loader import DEMO_CONFIG

DEFAULT_PORT = 4000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wardgate", description="Wardgate, an open-source AI gateway.")
    parser.add_argument("--version", action="version", version=f"wardgate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the gateway")
    serve.add_argument("--config", help="config file (YAML); default: the built-in demo config")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (production: one per core)")
    serve.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--watch", action="store_true", help="apply the config file's changes without a restart")

    config = commands.add_parser("config", help="config tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a config file and print every problem")
    check.add_argument("file")
    apply = config_commands.add_parser("apply", help="validate a config file and apply it to the running cluster")
    apply.add_argument("file")
    bundle = commands.add_parser("bundle", help="write an offline-install artifact: wheels, the chart, the images")
    bundle.add_argument("--output", required=True, help="a new or empty directory")
    bundle.add_argument("--no-wheels", action="store_true", help="only the chart and the image list (no registry)")
    commands.add_parser("providers", help="list every provider type: name, wire format, operations")
    cli_args.add_commands(commands)
    cli_guards.add_command(commands)
    from wardgate import cli_prompts

    cli_prompts.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "providers":
        return providers()
    if args.command == "serve":
        return serve(args)
    if args.command == "bundle":
        from wardgate import cli_bundle

        return cli_bundle.bundle(args.output, wheels=not args.no_wheels)
    if args.command == "guards":
        return cli_guards.run(args)
    if args.command == "prompts":
        from wardgate import cli_prompts

        return cli_prompts.run(args)
    if args.command in cli_args.COMMANDS:
        from wardgate import cli_admin  # the store, the admin API's helpers: only for these commands

        return cli_admin.run(args)
    if args.config_command == "apply":
        from wardgate import cli_config

        return cli_config.apply(args.file)
    return check(args.file)


def providers() -> int:
    """Every provider type, one per line: name, wire format, operations (the Responses API, on every type with chat,
    is translated onto chat)."""
    from wardgate.providers import registry

    for name, ptype in sorted(registry.provider_types().items()):
        print(f"{name}\t{ptype.wire}\t{','.join(ptype.operations)}")
    return 0


def check(path: str) -> int:
    try:
        settings = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{path}: ok ({len(settings.providers)} providers, {len(settings.models)} models)")
    return 0


def serve(args: argparse.Namespace) -> int:
    """Validate the config and migrate the store once, print the banner, then become the server (exec ``python -m
    wardgate.server``, which runs uvicorn): the serving processes start without the validation's or migration's
    imports, and with ``--workers 1`` the server runs in this very process."""
    path = Path(args.config) if args.config else DEMO_CONFIG
    try:
        settings = load_config(path)  # fail here, once, before any worker starts
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_migrate(settings.store))
    except Exception as exc:  # any failure to reach or migrate the store: say so and do not start
        print(f"wardgate: cannot open the store {_safe_url(settings.store)}: {exc}", file=sys.stderr)
        return 1
    from wardgate.server import banner, fds, guard, run

    fd_limit = fds.raise_fd_limit()  # inherited through exec by the server and its workers
    server = settings.server
    limits = guard.ConnectionLimits(
        max_connections=fds.connection_cap(server.max_connections, fd_limit),
        header_timeout_s=server.header_timeout_s,
        max_header_bytes=server.max_header_bytes,
        max_headers=server.max_headers,
    )
    print(banner.banner(path, settings, args, limits, fd_limit), file=sys.stderr)
    os.environ["WARDGATE_CONFIG"] = str(path.resolve())
    os.environ["WARDGATE_WATCH"] = "1" if args.watch else "0"
    if args.workers > 1:  # /metrics sums every worker's counters through this directory (observability/metrics.py)
        chosen = os.environ.get("WARDGATE_METRICS_DIR")
        os.environ["WARDGATE_METRICS_DIR"] = _metrics_dir(chosen)
        if not chosen:  # made for this run: the server removes it when it ends
            os.environ[run.METRICS_DIR_OWNED_ENV] = "1"
        # the workers' sockets for MCP answers that reach another worker than the one holding the call (no Redis)
        os.environ["WARDGATE_MCP_PEERS_DIR"] = _peers_dir(os.environ["WARDGATE_METRICS_DIR"])
    # glibc gives each thread that allocates its own malloc arena (up to 8 a core), and memory freed in one of the
    # SQLite driver threads' arenas stays in RSS: two arenas hold a worker ~20 MiB lower under load, and flatter
    # (issue 15, point 2; docs/deployment.md). Read by glibc when the server starts; an operator's own value is kept
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    argv = [
        sys.executable, "-m", "wardgate.server", "--host", args.host, "--port", str(args.port),
        "--workers", str(args.workers), "--log-level", args.log_level,
        "--server", run.server_args(limits, server.keep_alive_timeout_s, server.access_log, server.drain_timeout_s),
    ]  # fmt: skip
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)
    return 0  # not reached


def _peers_dir(metrics_dir: str) -> str:
    """A directory only this user reads, inside the run's metrics directory (removed with it), without an earlier
    run's sockets (mcp/worker_peers.py)."""
    path = Path(metrics_dir) / "mcp-peers"
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    for old in path.glob("*.sock"):
        old.unlink()
    return str(path)


def _metrics_dir(chosen: str | None) -> str:
    """A fresh temporary directory, or the one ``$WARDGATE_METRICS_DIR`` names, emptied of an earlier run's counts."""
    if not chosen:
        # in memory where the system has it (/dev/shm, also in a Kubernetes pod): publishing is a rename each second
        shm = Path("/dev/shm")
        memory = str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
        return tempfile.mkdtemp(prefix="wardgate-metrics-", dir=memory)
    path = Path(chosen)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.json"):
        old.unlink()
    return str(path)


async def _migrate(url: str) -> None:
    from wardgate.store.engine import create_engine, upgrade

    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    raise SystemExit(main())
