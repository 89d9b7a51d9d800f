"""The ledger's tables and their imperative mapping onto the domain classes.

The domain (``billing_service.domain``) knows nothing of SQLAlchemy; this module maps its
dataclasses onto these tables (names and columns are a contract: the e2e suite reads them)::

    invoices          one row per invoiced order ('INV-<order id>'), status invoiced|refunded
    journal_entries   one per posting event, unique (order_id, kind): kind invoice|reversal;
                      actor_subject, actor_token_id: who caused it at the edge (nullable)
    postings          the entry's lines: account, debit, credit (one side is zero)
    processed_events  the inbox (event_contracts.contrib.sqlalchemy): handled dedupe keys
    inbox_admissions  the inbox: one row per effect it let through (what tests count)

The migrations (``billing_service/migrations``) create the same schema; a test compares them.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

from event_contracts.contrib.sqlalchemy import UtcDateTime, inbox_tables
from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

from billing_service.domain import Account, EntryKind, Invoice, InvoiceStatus, JournalEntry, Posting
from billing_service.domain.ledger import MONEY_PLACES

SCALE = 4
"""Decimal places of every amount: numeric(18,4)."""


class Money(TypeDecorator[Decimal]):
    """``numeric(18,4)``; on SQLite (no decimal type) an integer of ten-thousandths.

    SQLite would store a NUMERIC as a float and ``SUM()`` it as floats; scaled integers keep
    every amount and every sum exact there too. Values always come back with four places.
    """

    impl = Numeric(18, SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = Decimal(value)
        if dialect.name == "sqlite":
            return int(amount.scaleb(SCALE).to_integral_exact())
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-SCALE).quantize(MONEY_PLACES)
        return Decimal(value).quantize(MONEY_PLACES)


class TextEnum(TypeDecorator[enum.StrEnum]):
    """A ``text`` column holding a ``StrEnum``'s values (a CHECK constraint lists them)."""

    impl = Text
    cache_ok = True

    def __init__(self, enum_type: type[enum.StrEnum]) -> None:
        super().__init__()
        self.enum_type = enum_type

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum_type(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> enum.StrEnum | None:
        return None if value is None else self.enum_type(value)


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


# A BIGINT identity in PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", Text, primary_key=True),
    Column("order_id", BigInteger, nullable=False, unique=True),
    Column("customer_id", Text, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("amount", Money, nullable=False),
    Column("status", TextEnum(InvoiceStatus), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(_one_of("status", InvoiceStatus), name="status"),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", BigId, Identity(), primary_key=True),
    Column("order_id", BigInteger, ForeignKey("invoices.order_id"), nullable=False),
    Column("kind", TextEnum(EntryKind), nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("actor_subject", Text, nullable=True),
    Column("actor_token_id", Text, nullable=True),
    UniqueConstraint("order_id", "kind", name="uq_journal_entries_order_id_kind"),
    CheckConstraint(_one_of("kind", EntryKind), name="kind"),
)

postings = Table(
    "postings",
    metadata,
    Column("id", BigId, Identity(), primary_key=True),
    Column("entry_id", BigId, ForeignKey("journal_entries.id"), nullable=False),
    Column("account", TextEnum(Account), nullable=False),
    Column("debit", Money, nullable=False),
    Column("credit", Money, nullable=False),
    CheckConstraint("debit >= 0 AND credit >= 0 AND (debit = 0 OR credit = 0)", name="one_side"),
    Index("ix_postings_entry_id", "entry_id"),
    Index("ix_postings_account", "account"),
)

inbox = inbox_tables(metadata)

mapper_registry = registry(metadata=metadata)


def start_mappers() -> None:
    """Map the domain classes onto the tables (once per process; later calls do nothing)."""
    if getattr(Invoice, "__mapper__", None) is not None:
        return
    mapper_registry.map_imperatively(Posting, postings)
    mapper_registry.map_imperatively(
        JournalEntry,
        journal_entries,
        properties={
            "postings": relationship(
                Posting, order_by=postings.c.id, lazy="selectin", cascade="all, delete-orphan"
            ),
        },
    )
    mapper_registry.map_imperatively(
        Invoice,
        invoices,
        properties={
            "entries": relationship(
                JournalEntry,
                order_by=journal_entries.c.id,
                lazy="selectin",
                cascade="all, delete-orphan",
            ),
        },
    )
