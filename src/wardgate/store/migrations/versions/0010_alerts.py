"""alert events: one row per (alert, series, window), so replicas fire each alert once

Revision ID: 0010_alerts
Revises: 0009_responses
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_alerts"
down_revision = "0009_responses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert", sa.String(length=100), nullable=False),
        sa.Column("series", sa.String(length=300), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("signal", sa.String(length=30), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
        sa.UniqueConstraint("alert", "series", "bucket", name="uq_alert_events_alert_series_bucket"),
    )
    op.create_index("ix_alert_events_fired_at", "alert_events", ["fired_at"])


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
