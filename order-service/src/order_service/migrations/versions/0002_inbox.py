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

from alembic import op
from event_contracts.contrib.sqlalchemy import downgrade_from_inbox, upgrade_to_inbox

revision: str = "0002_inbox"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_to_inbox(op)
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    downgrade_from_inbox(op)
