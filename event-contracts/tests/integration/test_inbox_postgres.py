"""The inbox on PostgreSQL: one statement per admission, and a concurrent duplicate skipped.

``SqlInbox.admit`` is one ``INSERT`` there (the gate's ``ON CONFLICT DO NOTHING`` as a CTE, the
admission copying its row). These tests hold it to what the two statements did: the first
delivery is admitted and logged once, a rolled-back one leaves nothing, and a delivery of the
same event racing an uncommitted first one waits for it and is then skipped, without an
error (or admitted, if the first rolled back). PostgreSQL only (``make db-tests``).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import MetaData, create_engine, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from event_contracts import Delivery
from event_contracts.contrib.sqlalchemy import InboxTables, SqlInbox, inbox_tables
from event_contracts.testing import DATABASE_VARIABLE, RoundTrips, fresh_database, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.database]


@pytest.fixture
def postgres() -> Iterator[tuple[Engine, InboxTables]]:
    url = os.environ.get(DATABASE_VARIABLE, "")
    if not url.startswith("postgresql"):
        pytest.skip(f"PostgreSQL's statement: set {DATABASE_VARIABLE} (make db-tests does)")
    with fresh_database(url) as fresh:
        metadata = MetaData()
        tables = inbox_tables(metadata)
        engine = create_engine(fresh)
        metadata.create_all(engine)
        yield engine, tables
        engine.dispose()


def a_delivery() -> Delivery:
    return Delivery(event_id=uuid.uuid4(), routing_key="order.v2.submit", consumer="billing")


def logged(engine: Engine, tables: InboxTables, delivery: Delivery) -> tuple[int, int]:
    """(gate rows, admissions) for ``delivery``."""
    processed, admissions = tables
    with engine.connect() as connection:
        return (
            connection.execute(
                select(func.count()).where(processed.c.dedupe_key == delivery.dedupe_key)
            ).scalar_one(),
            connection.execute(
                select(func.count()).where(admissions.c.dedupe_key == delivery.dedupe_key)
            ).scalar_one(),
        )


def waiting_for_a_lock(engine: Engine) -> bool:
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with engine.connect() as connection:
        return bool(connection.execute(query).scalar_one())


def test_an_admission_is_one_round_trip_and_is_logged_once(
    postgres: tuple[Engine, InboxTables],
) -> None:
    engine, tables = postgres
    trips, delivery = RoundTrips(engine), a_delivery()
    with Session(engine) as session:
        assert SqlInbox(session, tables).admit(delivery)
        session.rollback()  # the effect failed: neither the key nor the admission stays
    assert logged(engine, tables, delivery) == (0, 0)

    with Session(engine) as session, trips.counting() as seen:
        admitted = SqlInbox(session, tables).admit(delivery)
        session.commit()
    with Session(engine) as session:
        again = SqlInbox(session, tables).admit(delivery)
        session.commit()

    assert (admitted, again) == (True, False)
    assert seen == ["BEGIN", "WITH processed_events,inbox_admissions", "COMMIT"]
    assert logged(engine, tables, delivery) == (1, 1)


@pytest.mark.parametrize("first_ends", ["commit", "rollback"])
def test_a_concurrent_duplicate_waits_for_the_first_and_follows_its_outcome(
    postgres: tuple[Engine, InboxTables], first_ends: str
) -> None:
    engine, tables = postgres
    delivery = a_delivery()
    second: list[bool] = []
    with Session(engine) as first:
        assert SqlInbox(first, tables).admit(delivery)

        def deliver_again() -> None:
            with Session(engine) as session:
                second.append(SqlInbox(session, tables).admit(delivery))
                session.commit()

        racer = threading.Thread(target=deliver_again)
        racer.start()
        wait_until(
            lambda: waiting_for_a_lock(engine) or not racer.is_alive(),
            timeout=10,
            what="the second delivery to wait for the first transaction's lock",
        )
        assert racer.is_alive(), f"the second delivery did not wait: admitted {second}"
        getattr(first, first_ends)()
    racer.join(timeout=10)

    assert second == [first_ends == "rollback"]
    assert logged(engine, tables, delivery) == (1, 1)
