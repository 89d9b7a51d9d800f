"""The relay's SQL store on the service's database (SQLite file, or TEST_DATABASE_URL): what
gets marked after a batch, with a fake publisher (no broker)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from event_contracts import RetryPolicy
from prometheus_client.registry import REGISTRY
from sqlalchemy import select, update

from order_service import bootstrap
from order_service.adapters import orm
from order_service.entrypoints import outbox as outbox_cli
from order_service.entrypoints.outbox_metrics import OutboxSampler
from order_service.service_layer import commands, handlers
from order_service.service_layer.relay import Relay
from order_service.settings import Settings
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


UNBOUND = "order.v2.unbound"


def charge_back(services: bootstrap.Services, order_id: int) -> None:
    handlers.charge_back(commands.ChargeBack(order_id=order_id), services.uow())


def make_unroutable(services: bootstrap.Services, row_id: int) -> None:
    with services.engine.begin() as connection:
        connection.execute(
            update(orm.outbox).where(orm.outbox.c.id == row_id).values(routing_key=UNBOUND)
        )


def due_now(services: bootstrap.Services) -> None:
    """Every scheduled retry is due (the test does not wait out the backoff)."""
    with services.engine.begin() as connection:
        connection.execute(
            update(orm.outbox)
            .where(orm.outbox.c.next_attempt_at.is_not(None))
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def test_a_refused_row_waits_for_its_retry_then_is_parked_and_holds_back_only_its_order(
    services: bootstrap.Services,
    customer: str,
) -> None:
    place_orders(services, customer, 3)
    first = outbox(services)
    order_ids = [row["order_id"] for row in first]
    assert order_ids == [row["payload"]["id"] for row in first]  # type: ignore[index]
    bad_order = int(order_ids[0])  # type: ignore[call-overload]
    charge_back(services, bad_order)
    make_unroutable(services, int(first[0]["id"]))  # type: ignore[call-overload]
    publisher = FakePublisher(unroutable={UNBOUND})
    relay = bootstrap.build_relay(services, publisher=publisher)
    relay.row_retries = RetryPolicy(max_retries=1, first_delay=3600.0)

    outcome = relay.run_once()  # the other two submits go; the chargeback waits behind
    assert (outcome.claimed, outcome.published, outcome.refused, outcome.error) == (3, 2, 1, None)
    bad = outbox(services)[0]
    assert bad["attempts"] == 1 and "UnroutableMessage" in str(bad["last_error"])
    assert bad["next_attempt_at"] is not None and bad["parked_at"] is None
    assert relay.run_once().claimed == 0  # its retry time has not come; its chargeback waits

    due_now(services)
    assert relay.run_once().parked == 1  # the last retry: parked
    bad, *_, chargeback = outbox(services)
    assert bad["attempts"] == 2 and bad["parked_at"] is not None and bad["published_at"] is None
    assert "no queue is bound" in str(bad["last_error"])
    assert chargeback["routing_key"] == "order.v2.chargeback" and not chargeback["attempts"]
    assert relay.run_once().claimed == 0  # parked, and its order's chargeback behind it
    store = relay.store
    assert store.count_parked() == 1
    assert [(row.id, row.order_id, row.attempts) for row in store.parked()] == [
        (bad["id"], bad_order, 2)
    ]
    view = handlers.get_order(bad_order, services.uow())
    [parked] = view["parked_events"]
    assert parked["event_id"] == str(bad["event_id"]) and parked["attempts"] == 2
    assert parked["routing_key"] == UNBOUND and "no queue is bound" in parked["last_error"]
    assert handlers.get_order(int(order_ids[1]), services.uow())["parked_events"] == []  # type: ignore[call-overload]

    publisher.unroutable.clear()  # the binding exists now; the operator requeues
    assert store.requeue(order_ids=[bad_order]) == 1
    assert store.count_parked() == 0
    assert relay.run_once().published == 1  # the submit, then (next claim) the chargeback
    assert relay.run_once().published == 1
    assert [key for oid, key in publisher.sent if oid == bad_order] == [
        UNBOUND,
        "order.v2.chargeback",
    ]
    assert all(row["published_at"] is not None for row in outbox(services))
    assert handlers.get_order(bad_order, services.uow())["parked_events"] == []


def test_requeue_takes_rows_orders_or_everything_and_resets_the_attempts(
    services: bootstrap.Services,
    customer: str,
) -> None:
    place_orders(services, customer, 3)
    rows = outbox(services)
    for row in rows:
        make_unroutable(services, int(row["id"]))  # type: ignore[call-overload]
    relay = bootstrap.build_relay(services, publisher=FakePublisher(unroutable={UNBOUND}))
    relay.row_retries = RetryPolicy(max_retries=0)
    assert relay.run_once().parked == 3
    store = relay.store
    ids = [int(row["id"]) for row in rows]  # type: ignore[call-overload]
    orders = [int(row["order_id"]) for row in rows]  # type: ignore[call-overload]

    assert store.requeue() == 0  # nothing named: nothing requeued
    assert store.requeue(row_ids=[ids[0]]) == 1
    assert store.requeue(order_ids=[orders[1]]) == 1
    assert store.count_parked() == 1
    assert store.requeue(everything=True) == 1
    assert store.count_parked() == 0
    assert {row["attempts"] for row in outbox(services)} == {0}
    assert relay.run_once().claimed == 3  # back with the relay


def test_the_operator_command_lists_and_requeues_parked_rows(
    services: bootstrap.Services,
    customer: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    place_orders(services, customer, 2)
    bad = outbox(services)[0]
    make_unroutable(services, int(bad["id"]))  # type: ignore[call-overload]
    relay = bootstrap.build_relay(services, publisher=FakePublisher(unroutable={UNBOUND}))
    relay.row_retries = RetryPolicy(max_retries=0)
    relay.run_once()
    store = relay.store

    assert outbox_cli.run(store, ["parked"]) == 0
    listing = capsys.readouterr().out
    assert f"row {bad['id']}\torder {bad['order_id']}\t{UNBOUND}" in listing
    assert "attempts 1" in listing and "no queue is bound" in listing
    assert listing.endswith("1 parked row(s)\n")

    assert outbox_cli.run(store, ["requeue", "--row", "999999"]) == 1  # not parked: says so
    assert capsys.readouterr().out == "requeued 0 row(s)\n"
    assert outbox_cli.run(store, ["requeue", "--order", str(bad["order_id"])]) == 0
    assert capsys.readouterr().out == "requeued 1 row(s)\n"
    assert store.count_parked() == 0
    with pytest.raises(SystemExit):  # one way of choosing rows, and one is required
        outbox_cli.run(store, ["requeue"])


def test_the_backlog_counts_waiting_and_parked_rows_and_the_sampler_sets_the_gauges(
    services: bootstrap.Services,
    customer: str,
) -> None:
    store = services.outbox_store()
    assert store.backlog().unpublished == 0 and store.backlog().oldest_waiting_since is None
    place_orders(services, customer, 3)
    first, second = (row["id"] for row in outbox(services)[:2])
    with services.engine.begin() as connection:
        connection.execute(
            update(orm.outbox)
            .where(orm.outbox.c.id == first)
            .values(parked_at=datetime.now(UTC), created_at=datetime.now(UTC) - timedelta(hours=1))
        )
        connection.execute(
            update(orm.outbox)
            .where(orm.outbox.c.id == second)
            .values(created_at=datetime.now(UTC) - timedelta(seconds=90))
        )
    backlog = store.backlog()
    assert (backlog.unpublished, backlog.parked) == (3, 1)
    OutboxSampler(store).sample()
    # the parked row is not "waiting": the oldest waiting one is 90 s old
    age = REGISTRY.get_sample_value("shop_outbox_oldest_unpublished_age_seconds")
    assert age is not None and 90 <= age < 150
    assert REGISTRY.get_sample_value("shop_outbox_parked_rows") == 1
    assert REGISTRY.get_sample_value("shop_outbox_backlog_rows") == 3
