"""The database schema (SQLAlchemy Core tables) and the imperative mapping of the domain model.

The domain classes know nothing about SQLAlchemy: :func:`start_mappers` maps them onto these
tables once per process. Table and column names are part of the platform's contract (the e2e
suite reads them in PostgreSQL); migrations in ``order_service/migrations`` create them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from event_contracts.contrib.sqlalchemy import inbox_tables
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
    event,
    func,
)
from sqlalchemy.orm import registry, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

from order_service.domain import model
from order_service.domain.money import SCALE as MONEY_SCALE
from order_service.domain.money import normalized

_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


class MoneyType(TypeDecorator[Decimal]):
    """``numeric(18,4)`` where the database has it; exact decimal text on SQLite.

    SQLite has no decimal type (its NUMERIC affinity stores REAL, i.e. binary floats), so
    there the amount is kept as text and read back as a :class:`~decimal.Decimal`: money is
    never a float, on any backend.
    """

    impl = Numeric(18, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(Numeric(18, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = Decimal(value).quantize(_QUANTUM)
        return str(exact) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else normalized(Decimal(value))


# bigserial on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("total", MoneyType(), nullable=False),
    Column("invoiced", Boolean, nullable=False, default=False),
    Column("dispatched", Boolean, nullable=False, default=False),
    Column("refunded", Boolean, nullable=False, default=False),
    Column("charged_back", Boolean, nullable=False, default=False),
    Column("shipment_outcome", String(20), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", BigId, ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("line_id", BigInteger, primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", MoneyType(), nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("order_id", BigId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("response_status", Integer, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False, server_default=func.now()),
    Index("ix_idempotency_keys_created_at", "created_at"),
)
"""Purged with the inbox, after the same window (``INBOX_RETENTION_SECONDS``)."""

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("exchange", String(100), nullable=False),
    Column("routing_key", String(200), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("correlation_id", String(200), nullable=True),
    Column("actor_subject", String(255), nullable=True),
    Column("actor_token_id", String(255), nullable=True),
    # The request's trace (W3C traceparent/tracestate): the relay's publish continues it.
    Column("trace_context", JSON, nullable=True),
    Column("created_at", Timestamp, nullable=False, server_default=func.now()),
    Column("published_at", Timestamp, nullable=True),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("last_error", Text, nullable=True),
    # The order the event is about: its events are published in id order, and one that cannot
    # be published holds back only the later events of this order.
    Column("order_id", BigInteger, nullable=True),
    Column("next_attempt_at", Timestamp, nullable=True),  # refused: not tried before this
    Column("parked_at", Timestamp, nullable=True),  # refused too often: until requeued
)
_waiting = outbox.c.published_at.is_(None) & outbox.c.parked_at.is_(None)
Index("ix_outbox_unpublished", outbox.c.id, postgresql_where=_waiting, sqlite_where=_waiting)
Index(
    "ix_outbox_unpublished_order_id",
    outbox.c.order_id,
    outbox.c.id,
    postgresql_where=outbox.c.published_at.is_(None),
    sqlite_where=outbox.c.published_at.is_(None),
)
Index(
    "ix_outbox_parked_order_id",
    outbox.c.order_id,
    postgresql_where=outbox.c.parked_at.is_not(None),
    sqlite_where=outbox.c.parked_at.is_not(None),
)

inbox = inbox_tables(metadata)
"""``processed_events`` and ``inbox_admissions``: see ``event_contracts.contrib.sqlalchemy``."""

mapper_registry = registry(metadata=metadata)
_mapped = False


def start_mappers() -> None:
    """Map the domain classes onto the tables (idempotent: once per process)."""
    global _mapped  # noqa: PLW0603 - SQLAlchemy's mapping is process-wide by nature
    if _mapped:
        return
    lines_mapper = mapper_registry.map_imperatively(model.OrderLine, order_lines)
    mapper_registry.map_imperatively(
        model.Order,
        orders,
        properties={
            # Loaded when first read, in the unit of work's transaction: a fact (invoiced,
            # dispatched...) changes flags and never reads the lines, so it does not pay a
            # SELECT for them; a view or an event message reads them (one SELECT, as before).
            "lines": relationship(
                lines_mapper,
                order_by=order_lines.c.line_id,
                lazy="select",
                cascade="all, delete-orphan",
            ),
        },
    )
    event.listen(model.Order, "load", _receive_load)
    _mapped = True


def _receive_load(order: model.Order, _: Any) -> None:
    """Loaded orders (not built by ``__init__``) start with no pending events."""
    order.events = []
