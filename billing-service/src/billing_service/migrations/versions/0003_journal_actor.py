"""journal_entries.actor_subject, actor_token_id: who caused each entry at the edge (issue 20)

From the order event's ``actor-subject`` / ``actor-token-id`` headers (the caller's token
subject and ``jti``); null for entries posted before, or for events nobody named.

Revision ID: 0003_journal_actor
Revises: 0002_inbox
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_journal_actor"
down_revision: str | Sequence[str] | None = "0002_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("journal_entries") as batch:
        batch.add_column(sa.Column("actor_subject", sa.Text(), nullable=True))
        batch.add_column(sa.Column("actor_token_id", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("journal_entries") as batch:
        batch.drop_column("actor_token_id")
        batch.drop_column("actor_subject")
