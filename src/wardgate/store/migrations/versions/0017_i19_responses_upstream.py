"""The provider holding a stored response natively (the Responses API relayed as it is, decision 048)

Revision ID: 0017_i19_responses_upstream
Revises: 0016_i20_catalog
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_i19_responses_upstream"
down_revision = "0016_i20_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("responses", sa.Column("upstream", sa.String(length=200), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("Wardgate migrations are forward-only")
