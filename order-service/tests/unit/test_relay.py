"""The relay's loop with a fake outbox store and publisher."""

from __future__ import annotations

import threading
import uuid

import pytest
from event_contracts.testing import wait_until

from order_service.adapters.outbox import OutboxRow
from order_service.service_layer.relay import Backoff, Relay
from tests.fakes import FakeOutboxStore, FakePublisher

pytestmark = pytest.mark.unit


def rows(count: int) -> list[OutboxRow]:
    return [
        OutboxRow(
            id=i,
            event_id=uuid.uuid4(),
            exchange="order",
            routing_key="order.v2.submit",
            payload={"id": i, "occurred_at": "2025-01-01T00:00:00+00:00"},
            correlation_id=None,
            attempts=0,
        )
        for i in range(1, count + 1)
    ]


def test_publishes_in_id_order_and_marks_each_row() -> None:
    outbox = rows(5)
    store, publisher = FakeOutboxStore(outbox), FakePublisher()
    outcome = Relay(store, publisher, batch_size=3).run_once()

    assert outcome.published == 3 and outcome.error is None
    assert publisher.event_ids == [row.event_id for row in outbox[:3]]
    assert store.published == [1, 2, 3]


def test_a_failure_stops_the_batch_and_is_recorded_on_its_row() -> None:
    store, publisher = FakeOutboxStore(rows(5)), FakePublisher(fail_after=2)
    outcome = Relay(store, publisher).run_once()

    assert outcome.published == 2
    assert isinstance(outcome.error, ConnectionError)
    assert store.published == [1, 2]
    assert store.failures == [(3, "ConnectionError: broker unreachable")]


def test_backoff_doubles_up_to_its_limit_and_resets() -> None:
    backoff = Backoff(start=0.5, limit=10.0)
    assert [backoff.next_delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_run_publishes_everything_then_idles_until_stopped() -> None:
    outbox = rows(250)
    store, publisher = FakeOutboxStore(outbox), FakePublisher()
    waits: list[float] = []
    relay = Relay(store, publisher, batch_size=100, poll_interval=0.01, wait_for_work=waits.append)
    thread = threading.Thread(target=relay.run)
    thread.start()
    try:
        wait_until(lambda: len(waits) >= 3, timeout=5, what="the relay to idle")
    finally:
        relay.stop()
        thread.join(5)
    assert publisher.event_ids == [row.event_id for row in outbox]  # each once, in order
    assert relay.published_total == 250
    assert not thread.is_alive()


def test_run_backs_off_on_failures_and_recovers() -> None:
    store, publisher = FakeOutboxStore(rows(3)), FakePublisher(fail_after=0)
    relay = Relay(store, publisher, poll_interval=0.01, backoff=Backoff(0.001, 0.004))
    thread = threading.Thread(target=relay.run)
    thread.start()
    try:
        wait_until(lambda: relay.backoff.failures >= 4, timeout=5, what="failed rounds")
        publisher.fail_after = None  # the broker is back
        wait_until(lambda: len(publisher.event_ids) == 3, timeout=5, what="all 3 published")
    finally:
        relay.stop()
        thread.join(5)
    assert relay.backoff.failures == 0
    assert store.published == [1, 2, 3]
    assert all(row_id == 1 for row_id, _ in store.failures)


def two_events_per_order(orders: int) -> list[OutboxRow]:
    """Row ids in commit order: every order's submit, then every order's chargeback."""
    keys = ["order.v2.submit"] * orders + ["order.v2.chargeback"] * orders
    return [
        OutboxRow(
            id=i,
            event_id=uuid.uuid4(),
            exchange="order",
            routing_key=key,
            payload={"id": 1 + (i - 1) % orders},
            correlation_id=None,
            attempts=0,
        )
        for i, key in enumerate(keys, start=1)
    ]


def test_lanes_publish_everything_once_and_keep_each_orders_events_in_order() -> None:
    outbox = two_events_per_order(30)
    store, publisher = FakeOutboxStore(outbox), FakePublisher()
    relay = Relay(store, publisher, publishers=4)
    try:
        assert relay.run_once().published == 60
    finally:
        relay.stop()
        if relay.pool:
            relay.pool.shutdown()
    assert sorted(publisher.event_ids, key=str) == sorted((r.event_id for r in outbox), key=str)
    for order_id in range(1, 31):
        mine = [key for oid, key in publisher.sent if oid == order_id]
        assert mine == ["order.v2.submit", "order.v2.chargeback"]
    assert sorted(store.published) == list(range(1, 61))


def test_a_failing_lane_stops_alone_and_its_order_stays_in_order() -> None:
    outbox = two_events_per_order(8)
    store, publisher = FakeOutboxStore(outbox), FakePublisher(fail_for={3})
    relay = Relay(store, publisher, publishers=4)
    outcome = relay.run_once()

    assert isinstance(outcome.error, ConnectionError)
    assert [row_id for row_id, _ in store.failures] == [3]  # order 3's submit
    assert 3 not in {oid for oid, _ in publisher.sent}
    lane_of_3 = {oid for oid in range(1, 9) if oid % 4 == 3}  # its lane stopped behind it
    assert {oid for oid, _ in publisher.sent} == set(range(1, 9)) - lane_of_3

    publisher.fail_for.clear()
    relay.run_once()
    assert [key for oid, key in publisher.sent if oid == 3] == [
        "order.v2.submit",
        "order.v2.chargeback",
    ]
    assert len(publisher.event_ids) == 16
    if relay.pool:
        relay.pool.shutdown()
