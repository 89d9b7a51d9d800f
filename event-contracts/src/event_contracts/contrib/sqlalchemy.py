"""SQLAlchemy helpers shared by the services: the inbox and a UTC timestamp type.

Add :func:`inbox_tables` to the service's metadata (and an Alembic migration), gate each effect
on :meth:`SqlInbox.admit` inside the unit of work that applies it (the record and the effect
commit together, or neither does), and let the worker call :func:`purge_inbox` now and then
(:func:`event_contracts.runtime.add_periodic_job`).

Two tables::

    processed_events    one row per handled dedupe key (primary key): the gate
    inbox_admissions    one row per effect let through (no unique key): what the gate did

``inbox_admissions`` is the evidence. ``processed_events`` cannot hold a key twice by
construction, so it cannot show a duplicate; an admission is written in the effect's
transaction each time the gate lets one through, so a broken gate shows up there as two
admissions of one key (the e2e suite and the inbox's own tests count them).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from event_contracts.delivery import Delivery
from event_contracts.service_defaults import metrics

log = logging.getLogger(__name__)

TABLE_NAME = "processed_events"
ADMISSIONS_TABLE_NAME = "inbox_admissions"


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
    """The gate: one row per handled dedupe key."""
    return Table(
        TABLE_NAME,
        metadata,
        Column("dedupe_key", String(200), primary_key=True),
        Column("routing_key", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index(f"ix_{TABLE_NAME}_processed_at", "processed_at"),
    )


# A BIGINT identity in PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def inbox_admissions_table(metadata: MetaData) -> Table:
    """One row per effect the gate let through (append-only, no unique key on the dedupe key)."""
    return Table(
        ADMISSIONS_TABLE_NAME,
        metadata,
        Column("id", _BigId, autoincrement=True),
        Column("dedupe_key", String(200), nullable=False),
        Column("routing_key", String(200), nullable=False),
        Column("admitted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("id", name=f"pk_{ADMISSIONS_TABLE_NAME}"),
        Index(f"ix_{ADMISSIONS_TABLE_NAME}_dedupe_key", "dedupe_key"),
        Index(f"ix_{ADMISSIONS_TABLE_NAME}_admitted_at", "admitted_at"),
    )


class InboxTables(NamedTuple):
    processed: Table
    admissions: Table


def inbox_tables(metadata: MetaData) -> InboxTables:
    """The inbox's two tables, added to the service's ``metadata``."""
    return InboxTables(processed_events_table(metadata), inbox_admissions_table(metadata))


def upgrade_to_inbox(op: Any) -> None:
    """Migration step (alembic ``op``) from the 1.0 ``processed_events`` table to the inbox.

    Every service's migration calls this one function, so the schema cannot drift between them.
    Released migration steps never change: a later schema change is a new step.
    """
    op.create_index("ix_processed_events_processed_at", "processed_events", ["processed_at"])
    op.create_table(
        ADMISSIONS_TABLE_NAME,
        Column("id", _BigId, autoincrement=True),
        Column("dedupe_key", String(200), nullable=False),
        Column("routing_key", String(200), nullable=False),
        Column("admitted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("id", name=f"pk_{ADMISSIONS_TABLE_NAME}"),
    )
    op.create_index(f"ix_{ADMISSIONS_TABLE_NAME}_dedupe_key", ADMISSIONS_TABLE_NAME, ["dedupe_key"])
    op.create_index(f"ix_{ADMISSIONS_TABLE_NAME}_admitted_at", ADMISSIONS_TABLE_NAME, ["admitted_at"])


def downgrade_from_inbox(op: Any) -> None:
    """The reverse of :func:`upgrade_to_inbox`."""
    op.drop_table(ADMISSIONS_TABLE_NAME)
    op.drop_index("ix_processed_events_processed_at", table_name="processed_events")


class SqlInbox:
    """:class:`~event_contracts.inbox.Inbox` in the caller's session and transaction.

    On PostgreSQL an admission is ONE statement, one round trip: the gate's ``INSERT ... ON
    CONFLICT DO NOTHING`` is a data-modifying CTE whose row, if it inserted one, the evidence's
    ``INSERT`` copies (``RETURNING``: a row back means admitted). A concurrent delivery of the
    same event waits for the first transaction, then inserts nothing and is skipped (no error,
    no retry). SQLite has no DML in CTEs: there the two INSERTs are sent one after the other.
    """

    def __init__(self, session: Session, tables: InboxTables) -> None:
        self.session, self.tables = session, tables

    def admit(self, delivery: Delivery) -> bool:
        values = {"dedupe_key": delivery.dedupe_key, "routing_key": delivery.routing_key}
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            admitted = self.session.execute(_admit_statement(self.tables), values).first() is not None
        elif self._record_first(values):
            self.session.execute(_admission_statement(self.tables), values)
            admitted = True
        else:
            admitted = False
        if not admitted:
            metrics.note_duplicate()  # the handler's outcome: a duplicate, dropped
        return admitted

    def _record_first(self, values: dict[str, str]) -> bool:
        table = self.tables.processed
        dialect = self.session.get_bind().dialect.name
        if dialect in ("postgresql", "sqlite"):
            # RETURNING, not rowcount: SQLAlchemy 2.1 reports rowcount -1 for this INSERT on
            # psycopg unless asked to preserve it, which made every duplicate look new.
            return self.session.execute(_record_statement(table, dialect), values).first() is not None
        seen = self.session.execute(
            select(table.c.dedupe_key).where(table.c.dedupe_key == values["dedupe_key"])
        ).first()
        if seen is not None:
            return False
        self.session.execute(insert(table).values(**values))
        self.session.flush()  # elsewhere a concurrent duplicate fails here and is retried
        return True


# The statements depend only on the tables: built once, so SQLAlchemy's compiled cache serves
# every admission instead of a statement being built again on every handling.


@functools.cache
def _record_statement(table: Table, dialect: str) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING dedupe_key`` (PostgreSQL, SQLite)."""
    module = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(table)
        .values(dedupe_key=bindparam("dedupe_key"), routing_key=bindparam("routing_key"))
        .on_conflict_do_nothing()
        .returning(table.c.dedupe_key)
    )


@functools.cache
def _admission_statement(tables: InboxTables) -> Any:
    return insert(tables.admissions).values(
        dedupe_key=bindparam("dedupe_key"), routing_key=bindparam("routing_key")
    )


@functools.cache
def _admit_statement(tables: InboxTables) -> Any:
    """PostgreSQL: the gate and the evidence in one statement; a row back means admitted::

    WITH recorded AS (INSERT INTO processed_events ... ON CONFLICT DO NOTHING
                      RETURNING dedupe_key, routing_key)
    INSERT INTO inbox_admissions (dedupe_key, routing_key)
    SELECT dedupe_key, routing_key FROM recorded RETURNING id
    """
    processed, admissions = tables
    recorded = _record_statement(processed, "postgresql").returning(processed.c.routing_key).cte("recorded")
    return (
        insert(admissions)
        .from_select(["dedupe_key", "routing_key"], select(recorded.c.dedupe_key, recorded.c.routing_key))
        .returning(admissions.c.id)
        .add_cte(recorded)
    )


def purge_inbox(
    engine: Engine,
    tables: InboxTables,
    *,
    retention: timedelta,
    now: datetime | None = None,
    also: Sequence[Column[Any]] = (),
) -> dict[str, int]:
    """Delete inbox records older than ``retention`` (the dedupe window), a transaction per table.

    One table at a time: the purge never holds locks on two tables at once, so it cannot
    deadlock with a transaction that locks them in another order (it only waits).

    ``also``: timestamp columns of other tables whose rows leave the same window (order-service's
    ``idempotency_keys.created_at``). Returns the rows deleted per table. A delivery of an event
    whose record was purged is handled again: see :mod:`event_contracts.inbox`.
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: pass an aware one (UTC)")
    before = now - retention
    columns = [tables.processed.c.processed_at, tables.admissions.c.admitted_at, *also]
    deleted: dict[str, int] = {}
    for column in columns:
        with engine.begin() as connection:
            result = connection.execute(delete(column.table).where(column < before))
            deleted[column.table.name] = int(result.rowcount or 0)
    if any(deleted.values()):
        log.info("inbox purge: deleted %s (older than %s)", deleted, retention)
    return deleted


class SqlProcessedEvents(SqlInbox):
    """Deprecated since 1.1 (removed in 2.0): :class:`SqlInbox` under its 1.0 name."""

    def __init__(self, session: Session, table: Table) -> None:
        super().__init__(session, InboxTables(table, inbox_admissions_table(MetaData())))

    def first_delivery(self, delivery: Delivery) -> bool:
        return self._record_first({"dedupe_key": delivery.dedupe_key, "routing_key": delivery.routing_key})
