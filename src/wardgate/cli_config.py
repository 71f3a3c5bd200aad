"""``wardgate config apply FILE``: hot deploy to a running cluster.

The file is validated in full here first; an invalid one is refused with its key and fix, and nothing changes.
A valid one becomes the newest row of the store's ``config_versions`` and is announced, signed with a key derived
from the master key, on PostgreSQL NOTIFY (in the same transaction) and on Redis pub/sub when ``redis:`` is set.
Every worker of every replica re-reads it, validates it again (its environment resolves the ``${VAR}`` references)
and swaps it in; one that cannot keeps its running config and logs why. The file names the cluster it applies to:
its ``store``, ``redis`` and ``master_key`` are those of the running replicas.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path

from wardgate.config import ConfigError, Settings, load_config


def apply(path: str) -> int:
    try:
        settings = load_config(path)
        text = Path(path).read_text(encoding="utf-8")
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        print("wardgate: nothing applied; the running config keeps serving", file=sys.stderr)
        return 1
    try:
        version = asyncio.run(_apply(settings, text))
    except Exception as exc:  # any failure to reach the store or Redis: say so, nothing half-done is left
        print(f"wardgate: cannot apply {path}: {type(exc).__name__}: {exc}"[:500], file=sys.stderr)
        return 1
    print(f"{path}: applied as config version {version}")
    return 0


async def _apply(settings: Settings, text: str) -> int:
    import redis.asyncio as aioredis

    from wardgate.store.applied_config import AppliedConfigStore, config_events_channel, signing_key
    from wardgate.store.engine import create_engine, upgrade

    assert settings.master_key is not None, "validated at load"
    engine = create_engine(settings.store)
    client = aioredis.Redis.from_url(settings.redis.url) if settings.redis is not None else None
    try:
        await upgrade(engine)
        publish = None
        if client is not None and settings.redis is not None:
            channel = config_events_channel(settings.redis.key_prefix)

            async def publish(payload: str) -> object:
                return await client.publish(channel, payload)

        key = signing_key(settings.master_key.get_secret_value())
        return await AppliedConfigStore(engine).apply(text, f"cli:{getpass.getuser()}", key, publish)
    finally:
        if client is not None:
            await client.aclose()
        await engine.dispose()
