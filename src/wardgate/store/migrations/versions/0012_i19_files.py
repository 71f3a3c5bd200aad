"""Files and batches a provider holds, scoped by owner (project)

Revision ID: 0012_i19_files
Revises: 0011_i18_mcp_tool_policies
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_i19_files"
down_revision = "0011_i18_mcp_tool_policies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_objects",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_objects")),
    )
    op.create_index("ix_provider_objects_owner", "provider_objects", ["owner", "kind"])


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
