"""SQLAlchemy helpers shared by the services: the idempotency hook and a UTC timestamp type.

Add :func:`processed_events_table` to the service's metadata (and an Alembic migration), and
check :meth:`SqlProcessedEvents.first_delivery` inside the unit of work that applies the
event's effects: the key and the effects commit together, or neither does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from event_contracts.event import Delivery

TABLE_NAME = "processed_events"


class UtcDateTime(TypeDecorator[datetime]):
    """``timestamptz`` that takes aware datetimes only and always returns them aware, in UTC.

    Every message records instants with an offset; a naive datetime reaching the database is a
    bug, refused here. SQLite keeps no offset: values are stored in UTC and read back as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware one (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def processed_events_table(metadata: MetaData) -> Table:
    return Table(
        TABLE_NAME,
        metadata,
        Column("dedupe_key", String(200), primary_key=True),
        Column("routing_key", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class SqlProcessedEvents:
    """:class:`~event_contracts.idempotency.ProcessedEvents` in the caller's session/transaction."""

    def __init__(self, session: Session, table: Table) -> None:
        self.session, self.table = session, table

    def first_delivery(self, delivery: Delivery) -> bool:
        values = {"dedupe_key": delivery.dedupe_key, "routing_key": delivery.routing_key}
        dialect = self.session.get_bind().dialect.name
        if dialect in ("postgresql", "sqlite"):
            # INSERT ... ON CONFLICT DO NOTHING: a concurrent delivery of the same event waits for
            # the first transaction, then inserts nothing and is skipped (no error, no retry).
            module = postgresql if dialect == "postgresql" else sqlite
            # RETURNING, not rowcount: SQLAlchemy 2.1 reports rowcount -1 for this INSERT on
            # psycopg unless asked to preserve it, which made every duplicate look new.
            statement = (
                module.insert(self.table)
                .values(**values)
                .on_conflict_do_nothing()
                .returning(self.table.c.dedupe_key)
            )
            return self.session.execute(statement).first() is not None
        seen = self.session.execute(
            select(self.table.c.dedupe_key).where(self.table.c.dedupe_key == delivery.dedupe_key)
        ).first()
        if seen is not None:
            return False
        self.session.execute(insert(self.table).values(**values))
        self.session.flush()  # elsewhere a concurrent duplicate fails here and is retried
        return True
