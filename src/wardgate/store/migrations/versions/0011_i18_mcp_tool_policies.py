"""MCP tool policies created through the admin API

Revision ID: 0011_i18_mcp_tool_policies
Revises: 0010_alerts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_i18_mcp_tool_policies"
down_revision = "0010_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mcp_tool_policies",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_mcp_tool_policies")),
    )


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
