"""outbox.actor_subject, outbox.actor_token_id: who caused each event (issue 20)

The token's subject and id (``jti``) travel with the event as the ``actor-subject`` and
``actor-token-id`` headers; the token itself is never stored.

Revision ID: 0004_outbox_actor
Revises: 0003_outbox_parking
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_outbox_actor"
down_revision: str | None = "0003_outbox_parking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("actor_subject", sa.String(255), nullable=True))
        batch.add_column(sa.Column("actor_token_id", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("actor_token_id")
        batch.drop_column("actor_subject")
