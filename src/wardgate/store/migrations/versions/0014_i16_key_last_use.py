"""an index on (key_id, hour) of the principals roll-up: each key's last use for the keys list (store/key_use.py)

Revision ID: 0014_i16_key_last_use
Revises: 0013_i15_analytics_rollup
"""

from __future__ import annotations

from alembic import op

revision = "0014_i16_key_last_use"
down_revision = "0013_i15_analytics_rollup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_usage_rollup_principals_key_hour", "usage_rollup_principals", ["key_id", "hour"])


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
