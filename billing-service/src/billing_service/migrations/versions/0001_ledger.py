"""The general ledger: invoices, journal entries, postings, processed events.

Revision ID: 0001
Revises:
Create Date: 2025-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# numeric(18,4); on SQLite an integer of ten-thousandths (see adapters/orm.py: Money).
MONEY = sa.Numeric(18, 4).with_variant(sa.BigInteger(), "sqlite")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("invoice_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("order_id", name=op.f("uq_invoices_order_id")),
        sa.CheckConstraint("status IN ('invoiced', 'refunded')", name=op.f("ck_invoices_status")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_invoices_amount_not_negative")),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", BIG_ID, sa.Identity(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["invoices.order_id"], name=op.f("fk_journal_entries_order_id_invoices")
        ),
        sa.UniqueConstraint("order_id", "kind", name=op.f("uq_journal_entries_order_id_kind")),
        sa.CheckConstraint("kind IN ('invoice', 'reversal')", name=op.f("ck_journal_entries_kind")),
    )
    op.create_table(
        "postings",
        sa.Column("id", BIG_ID, sa.Identity(), nullable=False),
        sa.Column("entry_id", BIG_ID, nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("debit", MONEY, nullable=False),
        sa.Column("credit", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_postings_entry_id_journal_entries")
        ),
        sa.CheckConstraint(
            "debit >= 0 AND credit >= 0 AND (debit = 0 OR credit = 0)",
            name=op.f("ck_postings_one_side"),
        ),
    )
    op.create_index(op.f("ix_postings_entry_id"), "postings", ["entry_id"])
    op.create_index(op.f("ix_postings_account"), "postings", ["account"])
    op.create_table(
        "processed_events",
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("processed_at", INSTANT, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("dedupe_key", name=op.f("pk_processed_events")),
    )


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_index("ix_postings_account", table_name="postings")
    op.drop_index("ix_postings_entry_id", table_name="postings")
    op.drop_table("postings")
    op.drop_table("journal_entries")
    op.drop_table("invoices")
