"""prompt management: prompts, immutable versions, labels, promotions and approvals, canaries; the ledger's prompt
columns

Revision ID: 0008_prompts
Revises: 0007_guards
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_prompts"
down_revision = "0007_guards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "name", name=op.f("pk_prompts")),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("prompt", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "prompt", "id", name=op.f("pk_prompt_versions")),
        sa.UniqueConstraint("project_id", "prompt", "number", name="uq_prompt_versions_number"),
    )
    op.create_table(
        "prompt_labels",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("prompt", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("previous", sa.String(length=64), nullable=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "prompt", "label", name=op.f("pk_prompt_labels")),
    )
    op.create_table(
        "prompt_promotions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("prompt", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("required", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_promotions")),
    )
    op.create_index("ix_prompt_promotions_prompt", "prompt_promotions", ["project_id", "prompt"])
    op.create_table(
        "prompt_approvals",
        sa.Column("promotion_id", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["prompt_promotions.id"],
            name=op.f("fk_prompt_approvals_promotion_id_prompt_promotions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("promotion_id", "actor", name=op.f("pk_prompt_approvals")),
    )
    op.create_table(
        "prompt_canaries",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("prompt", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("sticky", sa.String(length=8), nullable=False),
        sa.Column("rollback", sa.JSON(), nullable=False),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "prompt", "label", name=op.f("pk_prompt_canaries")),
        sa.UniqueConstraint("id", name=op.f("uq_prompt_canaries_id")),
    )
    op.add_column("usage_events", sa.Column("prompt_name", sa.String(length=200), nullable=True))
    op.add_column("usage_events", sa.Column("prompt_version", sa.String(length=64), nullable=True))
    op.add_column("usage_events", sa.Column("prompt_variant", sa.String(length=8), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
