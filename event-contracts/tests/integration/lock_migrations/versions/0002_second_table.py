"""A second revision: applied once, after the first, by whichever migrator holds the lock.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("second_table", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("INSERT INTO applied_revisions VALUES ('0002')")


def downgrade() -> None:
    op.drop_table("second_table")
