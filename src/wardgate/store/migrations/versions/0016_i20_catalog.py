"""Models and providers created through the admin API

Revision ID: 0016_i20_catalog
Revises: 0015_i19_batch_settlement
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_i20_catalog"
down_revision = "0015_i19_batch_settlement"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_entries",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name", name=op.f("pk_catalog_entries")),
    )


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
