"""The relay's SQL store on the service's database (SQLite file, or TEST_DATABASE_URL): what
gets marked after a batch, with a fake publisher (no broker)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from order_service import bootstrap
from order_service.adapters import orm
from order_service.config import Settings
from order_service.service_layer import commands, handlers
from order_service.service_layer.relay import Relay
from tests.fakes import FakePublisher

pytestmark = pytest.mark.unit


@pytest.fixture
def services(database_url: str) -> Iterator[bootstrap.Services]:
    services = bootstrap.bootstrap(
        Settings(database_url=database_url, broker_urls=("amqp://x:y@127.0.0.1:1/shop",))
    )
    yield services
    services.engine.dispose()


def place_orders(services: bootstrap.Services, customer: str, count: int) -> None:
    for _ in range(count):
        handlers.place_order(
            commands.PlaceOrder(
                customer_id=customer,
                currency="EUR",
                lines=(commands.NewLine(1, 1, Decimal("1.00")),),
            ),
            services.uow(),
        )


def outbox(services: bootstrap.Services) -> list[dict[str, object]]:
    with services.engine.connect() as connection:
        return [
            dict(row._mapping)
            for row in connection.execute(select(orm.outbox).order_by(orm.outbox.c.id))
        ]


def test_published_rows_are_marked_and_the_failed_one_keeps_its_error(
    services: bootstrap.Services,
    customer: str,
) -> None:
    place_orders(services, customer, 4)
    publisher = FakePublisher(fail_after=2)
    relay = bootstrap.build_relay(services, publisher=publisher)
    relay.publishers = 1  # one lane: a deterministic order for this test

    outcome = relay.run_once()

    rows = outbox(services)
    assert outcome.published == 2
    assert [row["event_id"] for row in rows[:2]] == publisher.event_ids
    assert [row["published_at"] is not None for row in rows] == [True, True, False, False]
    # the broker was not reached: the error is noted, no attempt counted toward parking
    assert [row["attempts"] for row in rows] == [1, 1, 0, 0]
    assert rows[2]["last_error"] == "ConnectionError: broker unreachable"
    assert rows[2]["next_attempt_at"] is None and rows[2]["parked_at"] is None

    publisher.fail_after = None
    assert relay.run_once().published == 2  # picks up where it stopped, in order
    rows = outbox(services)
    assert publisher.event_ids == [row["event_id"] for row in rows]
    assert all(row["published_at"] is not None and row["last_error"] is None for row in rows)
    assert relay.run_once().published == 0


def test_a_batch_is_at_most_batch_size(services: bootstrap.Services, customer: str) -> None:
    place_orders(services, customer, 5)
    relay: Relay = bootstrap.build_relay(services, publisher=FakePublisher())
    relay.batch_size = 3
    assert [relay.run_once().published for _ in range(3)] == [3, 2, 0]


def test_purge_deletes_only_rows_published_before_the_cutoff(
    services: bootstrap.Services,
    customer: str,
) -> None:
    place_orders(services, customer, 3)
    relay = bootstrap.build_relay(services, publisher=FakePublisher())
    relay.batch_size = 2
    relay.run_once()  # rows 1 and 2 published, row 3 still waiting
    store = relay.store
    first = min(int(row["id"]) for row in outbox(services))  # type: ignore[call-overload]
    with services.engine.begin() as connection:
        connection.execute(
            update(orm.outbox)
            .where(orm.outbox.c.id == first)
            .values(published_at=datetime.now(UTC) - timedelta(days=8))
        )

    assert store.purge(datetime.now(UTC) - timedelta(days=7)) == 1
    rows = outbox(services)
    assert len(rows) == 2
    assert [row["published_at"] is None for row in rows] == [False, True]
