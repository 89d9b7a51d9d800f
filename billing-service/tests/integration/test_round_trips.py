"""What one handling sends to PostgreSQL, round trip by round trip (``make db-tests``).

Each round trip is CPU in the worker and in the server and a wait in between, on every one of
the pipeline's handlings (docs/performance.md, "Database work per handling"). The list is
pinned: a statement that comes back (a second inbox INSERT, a SELECT the ORM adds) fails here.
Counted on the wire (``event_contracts.testing.RoundTrips``), in a warm process.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from event_contracts.testing import InMemoryBus, RoundTrips
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from billing_service.adapters import database
from billing_service.bootstrap import bootstrap
from billing_service.settings import Settings

from .conftest import an_order
from .test_database import deliver, postings_let_through

pytestmark = pytest.mark.integration


@pytest.fixture
def postgres(migrated: Engine, database_url: str) -> Iterator[Engine]:
    """An engine as the worker makes it (its settings' engine options), on the test database."""
    if migrated.dialect.name != "postgresql":
        pytest.skip("round trips are PostgreSQL's (TEST_DATABASE_URL: make db-tests)")
    engine = database.create_engine(
        database_url, **Settings(database_url=database_url).engine_options()
    )
    yield engine
    engine.dispose()


def test_a_submit_is_one_inbox_statement_the_lock_one_ledger_statement_and_commit(
    postgres: Engine,
) -> None:
    trips = RoundTrips(postgres)
    billing = bootstrap(publisher=InMemoryBus(), engine=postgres)
    for _ in range(6):  # warm: psycopg prepares a statement on its fifth run
        order = an_order()
        billing.invoice_order(order, deliver(order))

    order = an_order()
    with trips.counting() as seen:
        billing.invoice_order(order, deliver(order))

    assert seen == [
        "BEGIN",
        "WITH processed_events,inbox_admissions",
        "SELECT invoices FOR UPDATE",
        "WITH invoices,journal_entries,postings",
        "COMMIT",
    ]


def test_a_duplicate_is_one_inbox_statement_a_read_and_rollback(postgres: Engine) -> None:
    trips = RoundTrips(postgres)
    billing = bootstrap(publisher=InMemoryBus(), engine=postgres)
    orders = [an_order() for _ in range(7)]
    for order in orders:
        billing.invoice_order(order, deliver(order))
    for order in orders[:-1]:
        billing.invoice_order(order, deliver(order))

    with trips.counting() as seen:
        billing.invoice_order(orders[-1], deliver(orders[-1]))

    assert seen == [
        "BEGIN",
        "WITH processed_events,inbox_admissions",
        "SELECT invoices",
        "SELECT invoices,journal_entries",  # the entries (selectin), the fact is built from them
        "SELECT postings",
        "ROLLBACK",
    ]


def test_a_connection_the_server_dropped_costs_one_failed_attempt_not_the_event(
    postgres: Engine,
) -> None:
    """No pre-ping: a pooled connection whose server process went away (a database restart)
    fails the handling that meets it, and the pool is invalidated; the runtime's private retry
    of that same delivery runs on a fresh connection and posts the invoice once."""
    billing = bootstrap(publisher=InMemoryBus(), engine=postgres)
    warm = an_order()
    billing.invoice_order(warm, deliver(warm))  # the pool now holds a connection
    with postgres.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = create_engine(postgres.url, poolclass=NullPool)  # not the pool's connection
    with admin.begin() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()

    order = an_order()
    with pytest.raises(OperationalError) as failed:
        billing.invoice_order(order, deliver(order))
    billing.invoice_order(order, deliver(order))  # the retry

    assert failed.value.connection_invalidated
    assert billing.invoice(order.id).invoice_id == f"INV-{order.id}"
    assert postings_let_through(postgres, deliver(order)) == 1
