"""What one handling sends to PostgreSQL, round trip by round trip (``make db-tests``).

Each round trip is CPU in the worker and in the server and a wait in between, on every one of
the pipeline's handlings (docs/performance.md, "Database work per handling"). The list is
pinned: a statement that comes back (a second inbox INSERT, a SELECT the ORM adds) fails here.
Counted on the wire (``event_contracts.testing.RoundTrips``), in a warm process.
"""

from __future__ import annotations

import pytest
from event_contracts.testing import InMemoryBus, RoundTrips
from sqlalchemy.engine import Engine

from billing_service.bootstrap import bootstrap

from .conftest import an_order
from .test_database import deliver

pytestmark = pytest.mark.integration


@pytest.fixture
def postgres(migrated: Engine) -> Engine:
    if migrated.dialect.name != "postgresql":
        pytest.skip("round trips are PostgreSQL's (TEST_DATABASE_URL: make db-tests)")
    return migrated


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
        "ping",
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
        "ping",
        "BEGIN",
        "WITH processed_events,inbox_admissions",
        "SELECT invoices",
        "SELECT invoices,journal_entries",  # the entries (selectin), the fact is built from them
        "SELECT postings",
        "ROLLBACK",
    ]
