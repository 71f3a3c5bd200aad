"""MCP upstream servers and virtual servers created through the admin API (decision 057)

Revision ID: 0018_i18_mcp_servers
Revises: 0017_i19_responses_upstream
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_i18_mcp_servers"
down_revision = "0017_i19_responses_upstream"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name", name=op.f("pk_mcp_servers")),
    )


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
