"""Batch settlement by a poller on any replica: the creator's principal, kept to meter the output without a
client's credential, and a lease so one replica at a time settles a batch (a crashed one's lease runs out)

Revision ID: 0015_i19_batch_settlement
Revises: 0014_i16_key_last_use
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_i19_batch_settlement"
down_revision = "0014_i16_key_last_use"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("provider_objects") as table:
        table.add_column(sa.Column("principal", sa.JSON(), nullable=True))
        table.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_provider_objects_unsettled", "provider_objects", ["kind", "settled_at"])


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
