"""The outbox relay against a real broker: each event published once, none lost in an outage."""

from __future__ import annotations

import os
import threading
import uuid

import attrs
import pytest
from event_contracts.testing import TestVhost, drain, queue_depth, wait_until
from flask.testing import FlaskClient
from sqlalchemy import select, update

from order_service import bootstrap
from order_service.adapters import orm
from tests.integration.conftest import (
    CLOSED_PORT_BROKER,
    make_services,
    place,
    relay_running,
)

pytestmark = pytest.mark.integration

CONSUMER_QUEUES = ("billing.order", "logistic.order")


def outbox(services: bootstrap.Services) -> list[dict[str, object]]:
    with services.engine.connect() as connection:
        return [
            dict(row._mapping)
            for row in connection.execute(select(orm.outbox).order_by(orm.outbox.c.id))
        ]


def all_published(services: bootstrap.Services) -> bool:
    return all(row["published_at"] is not None for row in outbox(services))


def event_ids(messages: list[object]) -> list[str]:
    return [str(message.headers["event-id"]) for message in messages]  # type: ignore[attr-defined]


def test_each_outbox_event_is_published_once_to_both_consumers(
    services: bootstrap.Services,
    api: FlaskClient,
    vhost: TestVhost,
    customer: str,
) -> None:
    orders = [place(api, customer) for _ in range(5)]
    assert api.post(f"/orders/{orders[0]['id']}/chargeback").status_code == 202
    expected = {str(row["event_id"]) for row in outbox(services)}
    assert len(expected) == 6

    with relay_running(services) as relay:
        wait_until(lambda: all_published(services), timeout=20, what="the outbox to be published")
        rounds = relay.rounds
        wait_until(lambda: relay.rounds >= rounds + 3, timeout=10, what="3 more idle rounds")

    for queue in CONSUMER_QUEUES:
        messages = drain(vhost.url(), queue, expect=6)
        assert sorted(event_ids(messages)) == sorted(expected)  # each once: no duplicate
        assert queue_depth(vhost.url(), queue) == 0
        by_id = {str(m.headers["event-id"]): m for m in messages}
        first = by_id[str(outbox(services)[0]["event_id"])]
        assert first.headers["task"] == "order.v2.submit"
        assert first.headers["occurred-at"]
        # who placed it: the token's subject and id, never the token
        assert first.headers["actor-subject"] == customer
        assert first.headers["actor-token-id"] == outbox(services)[0]["actor_token_id"]
        assert "Bearer" not in str(first.headers)
        _, kwargs, _ = first.decode()
        assert kwargs["instance"]["id"] == orders[0]["id"]
    assert {row["attempts"] for row in outbox(services)} == {1}


def test_orders_are_accepted_during_a_broker_outage_and_published_once_after_it(
    services: bootstrap.Services,
    database_url: str,
    api: FlaskClient,
    vhost: TestVhost,
    customer: str,
) -> None:
    down = make_services(database_url, CLOSED_PORT_BROKER)
    try:
        with relay_running(down) as failing:
            accepted = [place(api, customer) for _ in range(4)]  # never waits for the broker
            wait_until(
                lambda: failing.backoff.failures >= 2,
                timeout=30,
                what="the relay to fail twice against the closed port",
            )
            accepted += [place(api, customer) for _ in range(3)]
            assert failing.published_total == 0
        rows = outbox(services)
        assert len(rows) == 7 and not any(row["published_at"] for row in rows)
    finally:
        down.engine.dispose()

    with relay_running(services):  # the broker is back
        wait_until(lambda: all_published(services), timeout=30, what="the backlog to be published")

    expected = sorted(str(row["event_id"]) for row in outbox(services))
    for queue in CONSUMER_QUEUES:
        assert sorted(event_ids(drain(vhost.url(), queue, expect=7))) == expected
        assert queue_depth(vhost.url(), queue) == 0
    assert [row["last_error"] for row in outbox(services)] == [None] * 7
    published_ids = {r["payload"]["id"] for r in outbox(services)}  # type: ignore[index]
    assert {o["id"] for o in accepted} == published_ids


@pytest.mark.skipif(
    "postgresql" not in os.environ.get("TEST_DATABASE_URL", ""),
    reason="SKIP LOCKED claims need PostgreSQL (SQLite runs one relay)",
)
def test_two_relays_never_publish_a_row_twice(
    services: bootstrap.Services,
    database_url: str,
    api: FlaskClient,
    vhost: TestVhost,
    customer: str,
) -> None:
    second = make_services(database_url, vhost.url("order-service"))
    go = threading.Event()
    try:
        with relay_running(services), relay_running(second):
            go.set()
            orders = [
                place(api, customer, **{"Idempotency-Key": str(uuid.uuid4())}) for _ in range(60)
            ]
            wait_until(lambda: all_published(services), timeout=30, what="all published")
    finally:
        second.engine.dispose()
    for queue in CONSUMER_QUEUES:
        ids = event_ids(drain(vhost.url(), queue, expect=len(orders)))
        assert len(ids) == len(set(ids)) == 60
        assert queue_depth(vhost.url(), queue) == 0


def test_an_unroutable_row_is_parked_and_every_other_order_is_published(
    services: bootstrap.Services,
    api: FlaskClient,
    vhost: TestVhost,
    customer: str,
) -> None:
    """The issue's case: one row no queue is bound for, then orders in every lane, with a claim
    window small enough that the bad row's lane would fill it (it stalled every order)."""
    bad_order = place(api, customer)["id"]
    with services.engine.begin() as connection:
        connection.execute(
            update(orm.outbox)
            .where(orm.outbox.c.order_id == bad_order)
            .values(routing_key="order.v2.unbound")
        )
    assert api.post(f"/orders/{bad_order}/chargeback").status_code == 202  # waits behind it
    orders = [place(api, customer)["id"] for _ in range(40)]
    assert {order_id % 4 for order_id in orders} == {0, 1, 2, 3}  # every lane
    small_window = attrs.evolve(
        services,
        settings=services.settings.model_copy(
            update={
                "relay_batch_size": 4,
                "relay_row_retries": 3,
                "relay_row_retry_start": 0.1,
                "relay_row_retry_max": 0.4,
            }
        ),
    )

    with relay_running(small_window) as relay:
        wait_until(
            lambda: all(row["published_at"] for row in outbox(services)[2:]),
            timeout=30,
            what="the 40 other orders' submits to be published",
        )
        wait_until(lambda: relay.parked_total == 1, timeout=15, what="the bad row parked")
        assert relay.backoff.failures == 0  # a refused row never backs off the relay

    submits = {str(row["event_id"]) for row in outbox(services)[2:]}
    for queue in CONSUMER_QUEUES:
        assert set(event_ids(drain(vhost.url(), queue, expect=40))) == submits
        assert queue_depth(vhost.url(), queue) == 0
    bad, chargeback = outbox(services)[:2]
    assert bad["parked_at"] is not None and bad["published_at"] is None
    assert bad["attempts"] == 4  # the first try and 3 retries
    assert "no queue is bound on exchange 'order' for routing key 'order.v2.unbound'" in str(
        bad["last_error"]
    )
    assert (chargeback["published_at"], chargeback["attempts"]) == (None, 0)  # held behind it
    [parked] = api.get(f"/orders/{bad_order}").get_json()["parked_events"]
    assert parked["event_id"] == str(bad["event_id"])
    assert api.get("/readyz").get_json()["outbox"] == {"parked": 1}

    with services.engine.begin() as connection:  # the operator fixes the cause, then requeues
        connection.execute(
            update(orm.outbox)
            .where(orm.outbox.c.id == bad["id"])
            .values(routing_key="order.v2.submit")
        )
    assert services.outbox_store().requeue(order_ids=[bad_order]) == 1
    with relay_running(services):
        wait_until(lambda: all_published(services), timeout=20, what="the requeued order")
    for queue in CONSUMER_QUEUES:
        messages = drain(vhost.url(), queue, expect=2)
        assert event_ids(messages) == [str(bad["event_id"]), str(chargeback["event_id"])]
        assert [m.headers["task"] for m in messages] == ["order.v2.submit", "order.v2.chargeback"]
