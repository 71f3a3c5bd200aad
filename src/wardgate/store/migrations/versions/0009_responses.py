"""Responses API state, scoped by owner (project)

Revision ID: 0009_responses
Revises: 0008_prompts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_responses"
down_revision = "0008_prompts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "responses",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("input_items", sa.Text(), nullable=False),
        sa.Column("messages", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responses")),
    )
    op.create_index("ix_responses_owner", "responses", ["owner"])


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
