"""What one fact handling sends to PostgreSQL, round trip by round trip (``make db-tests``).

Each round trip is CPU in the worker and in the server and a wait in between, on both of an
order's facts (docs/performance.md, "Database work per handling"). The list is pinned: a
statement that comes back (a second inbox INSERT, a SELECT the ORM adds) fails here. Counted
on the wire (``event_contracts.testing.RoundTrips``), in a warm process.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from event_contracts import Delivery
from event_contracts.testing import RoundTrips

from order_service.adapters import database
from order_service.adapters.order_ids import SequenceBlocks
from order_service.adapters.unit_of_work import SqlAlchemyUnitOfWork, session_factory
from order_service.service_layer import commands, handlers
from order_service.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("fact", "routing_key"),
    [
        (commands.Fact.INVOICED, "billing.v1.invoiced"),
        (commands.Fact.DISPATCHED, "logistic.v1.shipment_dispatched"),
    ],
)
def test_a_fact_is_one_inbox_statement_the_lock_the_update_and_commit(
    database_url: str, fact: commands.Fact, routing_key: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("round trips are PostgreSQL's (TEST_DATABASE_URL: make db-tests)")
    # as the facts worker makes it: its settings' engine options (no pre-ping)
    engine = database.create_engine(
        database_url, **Settings(database_url=database_url).engine_options()
    )
    trips = RoundTrips(engine)
    sessions, next_id = session_factory(engine), SequenceBlocks(engine)

    def uow() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(sessions, next_id)

    def record(order_id: int) -> None:
        delivery = Delivery(event_id=uuid.uuid4(), routing_key=routing_key, consumer="order")
        handlers.record_fact(
            commands.RecordFact(order_id=order_id, fact=fact, delivery=delivery), uow()
        )

    placed = [
        handlers.place_order(
            commands.PlaceOrder(
                customer_id="c-trips",
                currency="EUR",
                lines=(commands.NewLine(1, 2, Decimal("4.50")),),
            ),
            uow(),
        ).order_id
        for _ in range(7)
    ]
    for order_id in placed[:-1]:  # warm: psycopg prepares a statement on its fifth run
        record(order_id)
    with trips.counting() as seen:
        record(placed[-1])
    engine.dispose()

    assert seen == [
        "BEGIN",
        "WITH processed_events,inbox_admissions",
        "SELECT orders FOR UPDATE",
        "UPDATE orders",
        "COMMIT",
    ]
