"""The outbox relay against a real broker: each event published once, none lost in an outage."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from event_contracts.testing import TestVhost, drain, queue_depth, wait_until
from flask.testing import FlaskClient
from sqlalchemy import select

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
