"""What every store command shares: finding the store, the errors a user can fix, the audit actor, tables."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store import audit as audit_store
from wardgate.store.audit import AuditEntry

ACTOR = "cli"
CONFIG_ENV = "WARDGATE_CONFIG"


class CommandError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 1."""


class SetupError(CommandError):
    """The command cannot find its store (no config, no database yet): exit code 2, like a usage error."""


def config_path(option: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """``--config``, else ``$WARDGATE_CONFIG``: the store commands never guess, so they never write a database into
    whatever directory they happen to run in."""
    value = option or environ.get(CONFIG_ENV)
    if not value:
        raise SetupError(
            f"no config: pass --config FILE or set {CONFIG_ENV} (the config's `store:` names the database to use)"
        )
    return Path(value)


def require_existing_store(url: str, config: Path) -> None:
    """An SQLite file that does not exist is a wrong path (a relative one is taken from the current directory),
    not a new store: only ``wardgate db upgrade`` (or ``serve``) creates one."""
    parsed = make_url(url)
    if not parsed.get_backend_name().startswith("sqlite"):
        return
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    if not Path(database).exists():
        raise SetupError(
            f"{config}: store: {database} does not exist (relative to {Path.cwd()}); run `wardgate db upgrade "
            f"--config {config}` to create it, or run from the directory the path is relative to"
        )


async def record(engine: AsyncEngine, action: str, target: str, details: dict[str, Any], key: bytes | None) -> None:
    """One change into the audit trail as actor "cli", chained with the gateway's audit key."""
    await audit_store.append(engine, [AuditEntry(ACTOR, action, target, details, datetime.now(UTC))], key)


async def can_record(engine: AsyncEngine, key: bytes | None) -> None:
    """Refuse a change the audit trail could not record as the gateway does, before making it."""
    if key is None:
        if await audit_store.is_anchored(engine):
            raise CommandError(
                "the audit trail is anchored with a key: give --config with the gateway's audit.hmac_key "
                "(or master_key), so this change is recorded in it"
            )
    elif await audit_store.head_matches(engine, key) is False:
        raise CommandError(
            "the audit trail's newest row does not verify with this config's key: use the gateway's config "
            "(audit.hmac_key or master_key), or run `wardgate audit verify`"
        )


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows, strict=False)]
    for line in (header, *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else "never"
