"""hourly roll-ups of the usage ledger for the analytics API (store/rollup_tables.py), filled from the ledger

Revision ID: 0013_i15_analytics_rollup
Revises: 0012_i19_files
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wardgate.store.rollup import backfill_statements
from wardgate.store.rollup_tables import ROLLUPS, key_columns, rollup_columns

revision = "0013_i15_analytics_rollup"
down_revision = "0012_i19_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, dimensions in ROLLUPS.items():
        op.create_table(
            name, *rollup_columns(dimensions), sa.UniqueConstraint(*key_columns(dimensions), name=f"uq_{name}_key")
        )
    for statement in backfill_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
