"""shipments and processed_events

Revision ID: 0001
Revises:
Create Date: 2025-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("created", "picked", "packed", "dispatched", "cancelled", "return_opened")


def upgrade() -> None:
    op.create_table(
        "shipments",
        sa.Column("shipment_id", sa.Text(), primary_key=True),
        sa.Column("order_id", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("submit_event_id", sa.Uuid(), nullable=False),
        sa.Column("chargeback_event_id", sa.Uuid(), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")",
            name="ck_shipments_status",
        ),
    )
    op.create_index("ix_shipments_status_updated_at", "shipments", ["status", "updated_at"])
    op.create_table(
        "processed_events",
        sa.Column("dedupe_key", sa.String(200), primary_key=True),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_index("ix_shipments_status_updated_at", table_name="shipments")
    op.drop_table("shipments")
