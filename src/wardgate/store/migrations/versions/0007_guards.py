"""guards created through the admin API (issue 14)

Revision ID: 0007_guards
Revises: 0006_config_versions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_guards"
down_revision = "0006_config_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guards",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_guards")),
    )


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
