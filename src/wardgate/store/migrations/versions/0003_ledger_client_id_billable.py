"""usage_events: the client's request id (searchable, never unique) and the billable flag

Revision ID: 0003
Revises: 0002

Rows written before this revision that no provider or cache answered carry no usage (refused by the gateway, or
failed with nothing consumed): they are marked not billable, so chargeback counts the same calls before and after.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("usage_events", sa.Column("client_request_id", sa.String(length=128), nullable=True))
    op.add_column("usage_events", sa.Column("billable", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.create_index("ix_usage_events_client_request_id", "usage_events", ["client_request_id"])
    op.execute(
        "UPDATE usage_events SET billable = false WHERE status >= 400 AND input_tokens = 0 AND output_tokens = 0"
    )


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
