"""A table recording each revision's application; slow, so that concurrent migrators overlap.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("applied_revisions", sa.Column("revision", sa.Text, nullable=False))
    op.execute("INSERT INTO applied_revisions VALUES ('0001')")
    op.execute("SELECT pg_sleep(0.5)")  # the window in which an unlocked migrator collides


def downgrade() -> None:
    op.drop_table("applied_revisions")
