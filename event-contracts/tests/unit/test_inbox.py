"""The inbox: the gate commits with the effect, admissions are counted, old records are purged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from event_contracts import DEFAULT_RETENTION, Delivery, InMemoryInbox
from event_contracts.contrib.sqlalchemy import InboxTables, SqlInbox, inbox_tables, purge_inbox
from event_contracts.inbox import purge_every_from_env, retention_from_env

pytestmark = pytest.mark.unit


def a_delivery(consumer: str = "billing") -> Delivery:
    return Delivery(event_id=uuid.uuid4(), routing_key="order.v2.submit", consumer=consumer)


@pytest.fixture
def sql() -> tuple[Engine, InboxTables, Table]:
    metadata = MetaData()
    tables = inbox_tables(metadata)
    other = Table(
        "idempotency_keys",
        metadata,
        Column("key", String(20), primary_key=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    return engine, tables, other


def admissions(engine: Engine, tables: InboxTables, delivery: Delivery) -> int:
    table = tables.admissions
    with engine.connect() as connection:
        query = select(func.count()).where(table.c.dedupe_key == delivery.dedupe_key)
        return int(connection.execute(query).scalar_one())


def test_the_in_memory_inbox_admits_once_per_consumer_and_forgets_what_rolled_back() -> None:
    inbox, delivery = InMemoryInbox(), a_delivery()
    assert inbox.admit(delivery)
    inbox.rollback()  # the effect failed: the key must not stick
    assert inbox.admit(delivery)
    assert not inbox.admit(delivery)  # the same transaction asks again
    inbox.commit()
    assert not inbox.admit(delivery)
    assert inbox.admit(Delivery(event_id=delivery.event_id, routing_key="x", consumer="logistic"))
    inbox.commit()
    assert inbox.admissions == {delivery.dedupe_key: 1, f"logistic:{delivery.event_id}": 1}


def test_the_sql_inbox_admits_once_and_logs_each_admission_with_the_effect(
    sql: tuple[Engine, InboxTables, Table],
) -> None:
    engine, tables, _ = sql
    delivery = a_delivery()
    with Session(engine) as session:
        assert SqlInbox(session, tables).admit(delivery)
        session.rollback()  # the effect failed: neither the key nor the admission stays
    assert admissions(engine, tables, delivery) == 0
    for _ in range(2):
        with Session(engine) as session:
            SqlInbox(session, tables).admit(delivery)
            session.commit()
    assert admissions(engine, tables, delivery) == 1


def test_purge_deletes_only_what_left_the_window_and_the_key_is_admitted_again(
    sql: tuple[Engine, InboxTables, Table],
) -> None:
    engine, tables, idempotency_keys = sql
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    old, recent = a_delivery(), a_delivery()
    for delivery, at in ((old, now - timedelta(days=8)), (recent, now - timedelta(days=6))):
        with engine.begin() as connection:
            values = {"dedupe_key": delivery.dedupe_key, "routing_key": delivery.routing_key}
            connection.execute(insert(tables.processed).values(**values, processed_at=at))
            connection.execute(insert(tables.admissions).values(**values, admitted_at=at))
    with engine.begin() as connection:
        connection.execute(
            insert(idempotency_keys),
            [
                {"key": "old", "created_at": now - timedelta(days=8)},
                {"key": "recent", "created_at": now - timedelta(days=6)},
            ],
        )

    deleted = purge_inbox(
        engine,
        tables,
        retention=timedelta(days=7),
        now=now,
        also=[idempotency_keys.c.created_at],
    )

    assert deleted == {"processed_events": 1, "inbox_admissions": 1, "idempotency_keys": 1}
    with engine.connect() as connection:
        keys = set(connection.execute(select(tables.processed.c.dedupe_key)).scalars())
        kept = set(connection.execute(select(idempotency_keys.c.key)).scalars())
    assert (keys, kept) == ({recent.dedupe_key}, {"recent"})
    with Session(engine) as session:  # the trade-off: an event older than the window runs again
        inbox = SqlInbox(session, tables)
        assert inbox.admit(old) and not inbox.admit(recent)


def test_purge_refuses_a_naive_now(sql: tuple[Engine, InboxTables, Table]) -> None:
    engine, tables, _ = sql
    with pytest.raises(ValueError, match="naive"):
        purge_inbox(engine, tables, retention=DEFAULT_RETENTION, now=datetime(2026, 1, 1))


def test_the_window_comes_from_the_environment_with_a_clear_error() -> None:
    assert DEFAULT_RETENTION == timedelta(days=7) == retention_from_env({})
    assert retention_from_env({"INBOX_RETENTION_SECONDS": "3600"}) == timedelta(hours=1)
    assert purge_every_from_env({"INBOX_PURGE_EVERY_SECONDS": "0.5"}) == timedelta(seconds=0.5)
    with pytest.raises(ValueError, match="INBOX_RETENTION_SECONDS='a week': expected a number"):
        retention_from_env({"INBOX_RETENTION_SECONDS": "a week"})
    with pytest.raises(ValueError, match="more than 0"):
        retention_from_env({"INBOX_RETENTION_SECONDS": "0"})
