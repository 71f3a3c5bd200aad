"""``wardgate keys | projects | teams | users | usage | db | audit | export``: the store, from a shell.

Each command reads only ``store:`` (and the audit key) from the config (``--config`` or ``$WARDGATE_CONFIG``; never
a guess), opens the store (one that does not exist yet only for ``db upgrade``), brings its schema up to date, does
one thing and closes it. Changes are written to the audit trail as actor "cli". A key revoked (or rotated) here is
announced to the running gateways like one revoked through the admin API: on Redis when the config has ``redis:``,
else by PostgreSQL NOTIFY; without either, they refuse it within ``identity.key_cache_ttl_s`` (1 s by default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import redis.asyncio as aioredis
import yaml
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.api.admin.keys import audit_details, resolve_scope, status_of
from wardgate.cli_args import COMMANDS, add_commands  # noqa: F401 - re-exported for callers of this module
from wardgate.cli_common import (
    CommandError,
    SetupError,
    can_record,
    config_path,
    record,
    require_existing_store,
    table,
    when,
)
from wardgate.cli_export import export_chargeback
from wardgate.cli_tenancy import TENANCY_HANDLERS
from wardgate.cli_usage import usage_report
from wardgate.config.errors import ConfigProblem
from wardgate.config.interpolate import environment, interpolate
from wardgate.config.schema import RedisConfig, Settings
from wardgate.store import audit as audit_store
from wardgate.store.common import StoreError
from wardgate.store.engine import create_engine, upgrade
from wardgate.store.keys import KeyStore, key_events_channel
from wardgate.store.tenancy import TenancyStore

_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def run(args: argparse.Namespace) -> int:
    sub = getattr(args, f"{args.command}_command")
    command: Callable[[AsyncEngine, argparse.Namespace], Awaitable[int]] = _HANDLERS[(args.command, sub)]
    try:
        path = config_path(args.config)
        url = store_url(path)
        args.audit_key = audit_key_of(path)
        if (args.command, sub) != ("db", "upgrade"):
            require_existing_store(url, path)
        return asyncio.run(_with_store(url, command, args))
    except SetupError as exc:
        print(f"wardgate: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"wardgate: {exc}", file=sys.stderr)
        return 1


async def _with_store(url: str, command: Callable[..., Awaitable[int]], args: argparse.Namespace) -> int:
    async with open_store(url) as engine:
        try:
            return await command(engine, args)
        except (StoreError, ValueError) as exc:
            raise CommandError(str(exc)) from exc


def store_url(path: Path) -> str:
    """Only ``store:`` matters here: a config whose provider keys are unset still names its store."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CommandError(f"{path}: cannot read the config ({exc})") from exc
    value = raw.get("store") if isinstance(raw, dict) else None
    if value is None:
        return str(Settings.model_fields["store"].default)
    problems: list[ConfigProblem] = []
    value = interpolate(value, environment(), problems, ("store",))
    if problems:
        raise CommandError(problems[0].render(str(path)))
    try:
        return Settings.model_validate({"store": value}).store
    except ValidationError as exc:
        raise CommandError(f"{path}: store: {exc.errors()[0]['msg']}") from exc


def audit_key_of(path: Path) -> bytes | None:
    """The audit chain's key as the gateway derives it: ``audit.hmac_key``, else from ``master_key``; None when the
    config names neither. A key the config names but the environment does not hold is an error, not None."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        return None
    audit = raw.get("audit")
    values: dict[str, str | None] = {"hmac_key": None, "master_key": None}
    for name, value, where in (
        ("hmac_key", audit.get("hmac_key") if isinstance(audit, dict) else None, ("audit", "hmac_key")),
        ("master_key", raw.get("master_key"), ("master_key",)),
    ):
        if value is None:
            continue
        problems: list[ConfigProblem] = []
        value = interpolate(value, environment(), problems, where)
        if problems:
            raise CommandError(problems[0].render(str(path)))
        values[name] = str(value)
    return audit_store.audit_key(values["hmac_key"], values["master_key"])


@asynccontextmanager
async def open_store(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    try:
        try:
            await upgrade(engine)
        except (OSError, SQLAlchemyError) as exc:
            raise CommandError(f"cannot open the store {engine.url.render_as_string()}: {exc}") from exc
        yield engine
    finally:
        await engine.dispose()


def parse_span(value: str, name: str) -> timedelta:
    """ "30d", "12h", "90m" (or a bare number of hours) → a timedelta."""
    value = value.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return timedelta(hours=float(value))
    match = _SPAN.fullmatch(value)
    if match is None:
        raise CommandError(f"{name}: {value!r} is not a span like 30d, 12h or 90m")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def parse_expiry(value: str, now: datetime) -> datetime:
    if _SPAN.fullmatch(value.strip().lower()):
        return now + parse_span(value, "--expires")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--expires: {value!r} is neither a span (30d, 12h) nor an ISO date/time") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when <= now:
        raise CommandError(f"--expires: {value} is in the past")
    return when


async def keys_create(engine: AsyncEngine, args: argparse.Namespace) -> int:
    await can_record(engine, args.audit_key)
    tenancy = TenancyStore(engine)
    project = await tenancy.find_project(args.project)
    scope = await resolve_scope(tenancy, project, args.team, args.user, args.agent)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    if models is not None and project.allowed_models is not None:
        outside = sorted(set(models) - set(project.allowed_models))
        if outside:
            raise CommandError(f"--models: not allowed on project {project.name!r}: {', '.join(outside)}")
    expires_at = parse_expiry(args.expires, datetime.now(UTC)) if args.expires else None
    secret, key = await KeyStore(engine).create(
        project.id,
        team_id=scope.team_id,
        user_id=scope.user_id,
        agent_id=scope.agent_id,
        models=models,
        expires_at=expires_at,
        name=args.name,
        secret=args.key,
    )
    await record(engine, "key.create", key.id, audit_details(key), args.audit_key)
    print(f"key      {secret}")
    print(f"id       {key.id}")
    print(f"prefix   {key.prefix}")
    print(f"project  {project.id} ({project.name})")
    print(f"expires  {when(key.expires_at)}")
    print("The key is shown only now: store it in your secret manager.", file=sys.stderr)
    return 0


async def keys_list(engine: AsyncEngine, args: argparse.Namespace) -> int:
    scope = None
    if args.project:
        scope = [(await TenancyStore(engine).find_project(args.project)).id]
    now = datetime.now(UTC)
    rows = [
        (k.id, k.prefix, k.project_id, status_of(k, now), when(k.expires_at), k.name or "")
        for k in await KeyStore(engine).list(scope)
    ]
    table(("id", "prefix", "project", "status", "expires", "name"), rows)
    return 0


@asynccontextmanager
async def key_store(engine: AsyncEngine, args: argparse.Namespace) -> AsyncIterator[KeyStore]:
    """The key store, publishing key events on the gateways' Redis when the config names one."""
    config = redis_config(config_path(args.config))
    if config is None:
        yield KeyStore(engine)
        return
    client = aioredis.Redis.from_url(config.url, socket_timeout=config.socket_timeout_s)
    try:
        yield KeyStore(engine, publish=partial(client.publish, key_events_channel(config.key_prefix)))
    finally:
        await client.aclose()


def redis_config(path: Path) -> RedisConfig | None:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CommandError(f"{path}: cannot read the config ({exc})") from exc
    value = raw.get("redis") if isinstance(raw, dict) else None
    if value is None:
        return None
    problems: list[ConfigProblem] = []
    value = interpolate(value, environment(), problems, ("redis",))
    if problems:
        raise CommandError(problems[0].render(str(path)))
    try:
        return RedisConfig.model_validate(value)
    except ValidationError as exc:
        raise CommandError(f"{path}: redis: {exc.errors()[0]['msg']}") from exc


async def keys_revoke(engine: AsyncEngine, args: argparse.Namespace) -> int:
    await can_record(engine, args.audit_key)
    async with key_store(engine, args) as keys:
        key = await keys.revoke(args.id)
    await record(engine, "key.revoke", key.id, {"project": key.project_id, "prefix": key.prefix}, args.audit_key)
    print(f"revoked {key.id} ({key.prefix}); running gateways refuse it from now on")
    return 0


async def keys_rotate(engine: AsyncEngine, args: argparse.Namespace) -> int:
    await can_record(engine, args.audit_key)
    overlap = parse_span(args.overlap, "--overlap")
    async with key_store(engine, args) as keys:
        old = await keys.get(args.id)
        if old.revoked_at is not None:
            raise CommandError(f"key {old.id!r} is revoked; create a new key instead")
        secret, key = await keys.rotate(old.id, overlap=overlap)
    await record(
        engine,
        "key.rotate",
        old.id,
        {**audit_details(key), "overlap_hours": overlap.total_seconds() / 3600},
        args.audit_key,
    )
    print(f"key      {secret}")
    print(f"id       {key.id}")
    print(f"prefix   {key.prefix}")
    print(f"replaces {old.id}, which keeps working until {when(datetime.now(UTC) + overlap)}")
    print("The key is shown only now: store it in your secret manager.", file=sys.stderr)
    return 0


async def projects_create(engine: AsyncEngine, args: argparse.Namespace) -> int:
    await can_record(engine, args.audit_key)
    project = await TenancyStore(engine).create_project(args.name, cost_center=args.cost_center)
    await record(
        engine, "project.create", project.id, {"name": project.name, "cost_center": project.cost_center}, args.audit_key
    )
    print(f"{project.id}  {project.name}")
    return 0


async def projects_list(engine: AsyncEngine, args: argparse.Namespace) -> int:
    projects = await TenancyStore(engine).list_projects()
    table(("id", "name", "cost_center"), [(p.id, p.name, p.cost_center or "") for p in projects])
    return 0


async def db_upgrade(engine: AsyncEngine, args: argparse.Namespace) -> int:
    async with engine.connect() as conn:
        revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    print(f"{engine.url.render_as_string()}: schema at the newest migration ({revision})")
    return 0


async def audit_verify(engine: AsyncEngine, args: argparse.Namespace) -> int:
    given: list[audit_store.Checkpoint] = []
    if args.checkpoints:
        given = await asyncio.to_thread(read_checkpoints, Path(args.checkpoints))
    result = await audit_store.verify(engine, args.audit_key, given)
    checked = f"{result.checkpoints} checkpoint{'s' if result.checkpoints != 1 else ''}"
    if result.ok:
        anchored = f"{result.anchored} anchored" if args.audit_key is not None else "NOT anchored (no key)"
        print(f"audit trail ok: {result.total} rows ({anchored}), hash chain intact, {checked} hold")
        return 0
    print(
        f"audit trail BROKEN: {result.total} rows, {checked}; the first problem at seq={result.seq}:", file=sys.stderr
    )
    for finding in result.findings:
        print(f"  {finding.describe()}", file=sys.stderr)
    if result.more_findings:
        print(f"  … and {result.more_findings} more", file=sys.stderr)
    return 1


def read_checkpoints(path: Path) -> list[audit_store.Checkpoint]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CommandError(f"--checkpoints: cannot read {path} ({exc})") from exc
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(audit_store.Checkpoint.from_json(json.loads(line)))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise CommandError(f"--checkpoints: {path}:{number}: not a checkpoint ({exc})") from exc
    return out


async def audit_checkpoint(engine: AsyncEngine, args: argparse.Namespace) -> int:
    """``audit checkpoint export``: sign the head now (so the copy covers every row there is), then write all."""
    if args.audit_key is None:
        raise CommandError("checkpoints are signed with the audit key: give --config with audit.hmac_key or master_key")
    await audit_store.AuditLog(engine, args.audit_key).checkpoint()
    lines = [json.dumps(cp.to_json(), sort_keys=True) + "\n" for cp in await audit_store.checkpoints(engine)]
    if args.output:
        await asyncio.to_thread(Path(args.output).write_text, "".join(lines), encoding="utf-8")
        print(f"{args.output}: {len(lines)} checkpoints", file=sys.stderr)
    else:
        sys.stdout.write("".join(lines))
    return 0


_HANDLERS: dict[tuple[str, str], Callable[[AsyncEngine, argparse.Namespace], Awaitable[int]]] = {
    ("keys", "create"): keys_create,
    ("keys", "list"): keys_list,
    ("keys", "revoke"): keys_revoke,
    ("keys", "rotate"): keys_rotate,
    ("projects", "create"): projects_create,
    ("projects", "list"): projects_list,
    **TENANCY_HANDLERS,
    ("usage", "report"): usage_report,
    ("db", "upgrade"): db_upgrade,
    ("audit", "verify"): audit_verify,
    ("audit", "checkpoint"): audit_checkpoint,
    ("export", "chargeback"): export_chargeback,
}
