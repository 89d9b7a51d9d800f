"""received_events and the inbox (processed_events, inbox_admissions)

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from event_contracts.contrib.sqlalchemy import upgrade_to_inbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "received_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("routing_key", sa.Text(), nullable=False),
        sa.Column("received_at", INSTANT, nullable=False),
        sa.CheckConstraint(
            "kind IN ('submit', 'chargeback')", name=op.f("ck_received_events_kind")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_received_events")),
    )
    op.create_index("ix_received_events_order_id", "received_events", ["order_id"])
    # The inbox as event-contracts defines it: processed_events, then the shared upgrade step.
    op.create_table(
        "processed_events",
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("processed_at", INSTANT, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("dedupe_key", name=op.f("pk_processed_events")),
    )
    upgrade_to_inbox(op)


def downgrade() -> None:
    op.drop_table("inbox_admissions")
    op.drop_table("processed_events")
    op.drop_table("received_events")
