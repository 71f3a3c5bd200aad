"""Each key's last use, for the keys list: the latest hour in which the ledger holds a row of the key, read from the
principals roll-up (``rollup_tables.py``), which the ledger's batch writer keeps in the same transaction as the rows.
One index probe on (key_id, hour) per key, whatever the size of the ledger; nothing is written on the request path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.rollup_tables import ROLLUP_TABLES

_TABLE = ROLLUP_TABLES["usage_rollup_principals"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 200  # SQLite takes at most 500 SELECTs in one compound statement


async def last_use_hours(engine: AsyncEngine, key_ids: Sequence[str]) -> dict[str, datetime]:
    """The start of the UTC hour of each key's latest ledger row (keys never used are left out)."""
    wanted = list(dict.fromkeys(key_ids))
    found: dict[str, datetime] = {}
    async with engine.connect() as conn:
        for i in range(0, len(wanted), _CHUNK):
            parts = [
                select(
                    literal(key_id).label("key_id"),
                    select(func.max(_TABLE.c.hour)).where(_TABLE.c.key_id == key_id).scalar_subquery().label("hour"),
                )
                for key_id in wanted[i : i + _CHUNK]
            ]
            statement = parts[0] if len(parts) == 1 else union_all(*parts)
            for key_id, hour in (await conn.execute(statement)).all():
                if hour is not None:
                    found[str(key_id)] = _EPOCH + timedelta(hours=int(hour))
    return found
