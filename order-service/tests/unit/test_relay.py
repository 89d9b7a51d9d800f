"""The relay's loop with a fake outbox store and publisher."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import attrs
import pytest
from event_contracts import RetryPolicy
from event_contracts.testing import wait_until

from order_service.service_layer.ports import OutboxRow
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
    store, publisher = FakeOutboxStore(outbox, hold_orders=False), FakePublisher()
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


def test_an_unreachable_broker_stops_the_lane_alone_and_its_order_stays_in_order() -> None:
    outbox = two_events_per_order(8)
    store, publisher = FakeOutboxStore(outbox, hold_orders=False), FakePublisher(fail_for={3})
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


UNBOUND = "order.v2.unbound"


def with_unroutable_submit(outbox: list[OutboxRow], order_id: int) -> list[OutboxRow]:
    """``order_id``'s submit goes to a routing key no queue is bound for."""
    return [
        attrs.evolve(row, routing_key=UNBOUND)
        if row.payload["id"] == order_id and row.routing_key == "order.v2.submit"
        else row
        for row in outbox
    ]


def drain_relay(relay: Relay, rounds: int = 10) -> None:
    for _ in range(rounds):
        if relay.run_once().claimed == 0:
            return


@pytest.mark.parametrize("hold_orders", [True, False], ids=["store holds", "lane holds"])
def test_a_refused_row_holds_back_its_own_order_and_nothing_else(hold_orders: bool) -> None:
    outbox = with_unroutable_submit(two_events_per_order(12), order_id=3)
    store = FakeOutboxStore(outbox, hold_orders=hold_orders)
    publisher = FakePublisher(unroutable={UNBOUND})
    relay = Relay(store, publisher, batch_size=4, publishers=4, row_retries=RetryPolicy(5, 60.0))
    try:
        drain_relay(relay)
    finally:
        relay.stop()
        if relay.pool:
            relay.pool.shutdown()

    assert {oid for oid, _ in publisher.sent} == set(range(1, 13)) - {3}
    assert len(publisher.sent) == 22  # every event of every other order, once
    assert [(r.row_id, r.retry_in) for r in store.refusals] == [(3, 60.0)]  # tried once so far
    assert "UnroutableMessage" in store.refusals[0].error
    assert store.failures == []  # not an outage: no lane stopped, no relay backoff
    assert relay.backoff.failures == 0


def test_a_refused_row_is_retried_with_backoff_then_parked() -> None:
    outbox = with_unroutable_submit(two_events_per_order(2), order_id=1)
    store, publisher = FakeOutboxStore(outbox), FakePublisher(unroutable={UNBOUND})
    relay = Relay(store, publisher, row_retries=RetryPolicy(max_retries=3, first_delay=0.01))

    outcomes = []
    for _ in range(4):
        wait_until(lambda: store.retry_at.get(1, 0) <= time.monotonic(), timeout=5, what="retry")
        outcomes.append(relay.run_once())

    assert [r.retry_in for r in store.refusals] == [0.01, 0.02, 0.04, None]
    assert [(o.refused, o.parked, o.error) for o in outcomes] == [(1, 0, None)] * 3 + [(1, 1, None)]
    assert store.parked_ids == {1} and store.attempts[1] == 4 and relay.parked_total == 1
    assert relay.run_once().claimed == 0  # parked: neither it nor its chargeback (row 3) goes
    assert {oid for oid, _ in publisher.sent} == {2}


def test_parking_is_logged_at_error_with_the_row_and_how_to_requeue_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    submit, chargeback = with_unroutable_submit(two_events_per_order(1), order_id=1)
    submit = attrs.evolve(
        submit,
        correlation_id="corr-9",
        trace_context={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    store, publisher = FakeOutboxStore([submit, chargeback]), FakePublisher(unroutable={UNBOUND})
    relay = Relay(store, publisher, row_retries=RetryPolicy(max_retries=0))
    with caplog.at_level(logging.WARNING, logger="order_service.service_layer.relay"):
        assert relay.run_once().parked == 1
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "PARKED row 1" in record.getMessage()
    assert UNBOUND in record.getMessage() and "order-service-outbox requeue" in record.getMessage()
    # the log format's fields (event_contracts.service_defaults.logging), as a consumer's lines
    fields = ("order_id", "event_id", "correlation_id", "trace_id")
    assert [getattr(record, name, None) for name in fields] == [
        "1",
        str(submit.event_id),
        "corr-9",
        trace_id,
    ]


def test_a_requeued_row_is_published_and_then_its_orders_later_events() -> None:
    outbox = with_unroutable_submit(two_events_per_order(2), order_id=1)
    store, publisher = FakeOutboxStore(outbox), FakePublisher(unroutable={UNBOUND})
    relay = Relay(store, publisher, row_retries=RetryPolicy(max_retries=0))
    drain_relay(relay)
    assert store.parked_ids == {1}

    publisher.unroutable.clear()  # the operator bound the key, then requeued
    assert store.requeue(order_ids=[1]) == 1
    drain_relay(relay)

    assert [key for oid, key in publisher.sent if oid == 1] == [UNBOUND, "order.v2.chargeback"]
    assert sorted(store.published) == [1, 2, 3, 4]


def test_refused_rows_never_back_off_the_relay_nor_stall_other_orders() -> None:
    outbox = with_unroutable_submit(two_events_per_order(300), order_id=5)
    store, publisher = FakeOutboxStore(outbox), FakePublisher(unroutable={UNBOUND})
    relay = Relay(
        store,
        publisher,
        batch_size=20,
        publishers=4,
        poll_interval=0.01,
        row_retries=RetryPolicy(max_retries=2, first_delay=0.01),
        backoff=Backoff(5.0, 5.0),  # one relay-wide backoff would blow the deadline below
    )
    thread = threading.Thread(target=relay.run)
    thread.start()
    try:
        wait_until(lambda: store.parked_ids == {5}, timeout=5, what="order 5's submit parked")
        wait_until(lambda: len(publisher.sent) == 598, timeout=5, what="598 events published")
    finally:
        relay.stop()
        thread.join(5)
    assert relay.backoff.failures == 0 and store.failures == []
    assert 5 not in {oid for oid, _ in publisher.sent}


def test_each_publish_is_reported_with_its_outcome_and_duration() -> None:
    seen: list[tuple[str, float]] = []
    store, publisher = FakeOutboxStore(rows(4)), FakePublisher(fail_after=2)
    Relay(store, publisher, on_publish=lambda outcome, s: seen.append((outcome, s))).run_once()
    assert [outcome for outcome, _ in seen] == ["published", "published", "unreachable"]
    assert all(seconds >= 0 for _, seconds in seen)
