"""What one handling sends to PostgreSQL, round trip by round trip (``make db-tests``).

Each round trip is CPU in the worker and in the server and a wait in between, on every one of
the pipeline's handlings (docs/performance.md, "Database work per handling"). The lists are
pinned: a statement that comes back (a second inbox INSERT, a SELECT the ORM adds) fails here.
Counted on the wire (``event_contracts.testing.RoundTrips``), in a warm process.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from event_contracts import Delivery
from event_contracts.testing import InMemoryBus, RoundTrips

from logistic_service.adapters import database
from logistic_service.adapters.unit_of_work import SqlAlchemyUnitOfWork, session_factory
from logistic_service.bootstrap import Handlers, bootstrap
from logistic_service.domain.model import shipment_id_for
from logistic_service.settings import Settings

from .conftest import an_order, unique_order_id

pytestmark = pytest.mark.integration


class NoChain:
    def start(self, shipment_id: str, correlation_id: str | None = None) -> None:
        return None


@pytest.fixture
def wired(database_url: str) -> tuple[Handlers, RoundTrips]:
    if not database_url.startswith("postgresql"):
        pytest.skip("round trips are PostgreSQL's (TEST_DATABASE_URL: make db-tests)")
    # as the worker makes it: its settings' engine options (no pre-ping)
    engine = database.create_engine(
        database_url, **Settings(database_url=database_url).engine_options()
    )
    trips = RoundTrips(engine)
    handlers = bootstrap(
        uow=partial(SqlAlchemyUnitOfWork, session_factory(engine)),
        publisher=InMemoryBus(),
        pipeline=NoChain(),
    )
    return handlers, trips


def submit(handlers: Handlers, order_id: int) -> None:
    order = an_order(order_id)
    handlers.ship_order(
        order, Delivery(event_id=order.event_id, routing_key="order.v2.submit", consumer="logistic")
    )


def counted(trips: RoundTrips, handle: Callable[[int], Any], order_ids: list[int]) -> list[str]:
    """The round trips of the last handling, the ones before it warming up (psycopg prepares a
    statement on its fifth run)."""
    for order_id in order_ids[:-1]:
        handle(order_id)
    with trips.counting() as seen:
        handle(order_ids[-1])
    return seen


def test_a_submit_is_one_inbox_statement_the_lock_the_insert_and_commit(
    wired: tuple[Handlers, RoundTrips],
) -> None:
    handlers, trips = wired
    order_ids = [unique_order_id() for _ in range(7)]

    assert counted(trips, partial(submit, handlers), order_ids) == [
        "BEGIN",
        "WITH processed_events,inbox_admissions",
        "SELECT shipments FOR UPDATE",
        "INSERT shipments",
        "COMMIT",
    ]


@pytest.mark.parametrize("step", ["pick", "pack", "dispatch"])
def test_a_chain_step_is_the_lock_the_update_and_commit(
    wired: tuple[Handlers, RoundTrips], step: str
) -> None:
    handlers, trips = wired
    order_ids = [unique_order_id() for _ in range(7)]
    steps = ["pick", "pack", "dispatch"]
    for order_id in order_ids:
        submit(handlers, order_id)
        for before in steps[: steps.index(step)]:
            getattr(handlers, before)(shipment_id_for(order_id))

    run = getattr(handlers, step)
    assert counted(trips, lambda order_id: run(shipment_id_for(order_id)), order_ids) == [
        "BEGIN",
        "SELECT shipments FOR UPDATE",
        "UPDATE shipments",
        "COMMIT",
    ]
