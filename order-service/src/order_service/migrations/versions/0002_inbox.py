"""The inbox: an index for purging processed_events, and inbox_admissions;
an index for purging idempotency_keys

inbox_admissions gets one row per effect the inbox let through (no unique key), so a broken
gate shows up as two rows of one dedupe key; both tables are purged after the dedupe window.

Revision ID: 0002_inbox
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_inbox"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_processed_events_processed_at", "processed_events", ["processed_at"])
    op.create_table(
        "inbox_admissions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column(
            "admitted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_inbox_admissions"),
    )
    op.create_index("ix_inbox_admissions_dedupe_key", "inbox_admissions", ["dedupe_key"])
    op.create_index("ix_inbox_admissions_admitted_at", "inbox_admissions", ["admitted_at"])
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("inbox_admissions")
    op.drop_index("ix_processed_events_processed_at", table_name="processed_events")
