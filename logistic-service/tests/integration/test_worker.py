"""The real worker on a real broker: events in through logistic.order, the chain through
logistic.internal, facts out to order.logistic (drained here as order-service would read it)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest
from celery import Celery
from event_contracts import Publisher
from event_contracts.testing import (
    TestVhost,
    drain,
    publish_seed_v1,
    queue_depth,
    running_worker,
    wait_until,
)

from logistic_service.adapters.pipeline import PACK, PICK, RESUME_STUCK_SHIPMENTS
from logistic_service.domain.model import Shipment

from .conftest import Database, TaskLog, an_order, unique_order_id

pytestmark = pytest.mark.integration

INTERNAL = "logistic.internal"


def facts(vhost: TestVhost, order_id: int, expect: int) -> dict[str, dict[str, Any]]:
    """What order-service would receive from logistic about this order: {routing key: message}.

    Facts about other orders are skipped (the resume job may finish other shipments of the test).
    """
    out: dict[str, dict[str, Any]] = {}

    def take() -> bool:
        for message in drain(vhost.url(), "order.logistic", expect=1, timeout=20):
            _, kwargs, _ = message.decode()
            if kwargs["instance"]["order_id"] == order_id:
                out[message.headers["task"]] = {
                    "headers": message.headers,
                    "body": kwargs["instance"],
                }
        return len(out) >= expect

    wait_until(take, timeout=30, what=f"{expect} fact(s) about order {order_id}")
    return out


def fact_id(what: str, order_id: int) -> str:
    return str(uuid5(NAMESPACE_URL, f"logistic:{what}:{order_id}"))


def test_a_submitted_order_is_dispatched_and_announced(
    vhost: TestVhost, logistic_app: Celery, order_publisher: Publisher, db: Database
) -> None:
    order_id = unique_order_id()
    order = an_order(order_id)
    with running_worker(vhost, "logistic", app=logistic_app):
        order.submit(publisher=order_publisher, correlation_id="corr-1")
        shipment = db.wait_for_status(order_id, "dispatched")
        announced = facts(vhost, order_id, expect=1)

    assert shipment.shipment_id == f"SHP-{order_id}" and shipment.dispatched_at is not None
    fact = announced["logistic.v1.shipment_dispatched"]
    assert fact["headers"]["event-id"] == fact_id("dispatched", order_id)
    assert fact["headers"]["correlation-id"] == "corr-1"
    assert fact["body"]["caused_by"] == str(order.event_id)
    assert (fact["body"]["shipment_id"], fact["body"]["order_id"]) == (f"SHP-{order_id}", order_id)
    assert queue_depth(vhost.url(), "logistic.order.dlq") == 0
    assert queue_depth(vhost.url(), f"{INTERNAL}.dlq") == 0


def test_a_duplicate_submit_makes_one_shipment_and_one_fact(
    vhost: TestVhost,
    logistic_app: Celery,
    order_publisher: Publisher,
    db: Database,
    finished_tasks: TaskLog,
) -> None:
    order_id = unique_order_id()
    order, second_event = an_order(order_id), an_order(order_id)
    with running_worker(vhost, "logistic", app=logistic_app):
        order.submit(publisher=order_publisher)
        order.submit(publisher=order_publisher)  # the same event again (a publisher retry)
        second_event.submit(publisher=order_publisher)  # another submit of the same order
        db.wait_for_status(order_id, "dispatched")
        wait_until(
            lambda: db.processed(order.event_id, second_event.event_id) == 2,
            timeout=15,
            what="both submit events to be recorded",
        )
        announced = drain(vhost.url(), "order.logistic", expect=1, timeout=20)

    assert db.count_shipments(order_id) == 1
    assert {m.headers["event-id"] for m in announced} == {fact_id("dispatched", order_id)}
    assert finished_tasks.names.count("order.v2.submit") == 3


def test_a_chargeback_before_dispatch_cancels_and_stops_the_chain_quietly(
    vhost: TestVhost,
    make_logistic_app: Callable[..., Celery],
    order_publisher: Publisher,
    db: Database,
    finished_tasks: TaskLog,
) -> None:
    order_id = unique_order_id()
    order, chargeback = an_order(order_id), an_order(order_id)

    # 1. a worker that only takes events: the chain's first step waits in logistic.internal
    events_only = make_logistic_app()
    events_only.amqp.queues.deselect(INTERNAL)
    with running_worker(vhost, "logistic", app=events_only):
        order.submit(publisher=order_publisher)
        db.wait_for_status(order_id, "created")
        wait_until(
            lambda: queue_depth(vhost.url(), INTERNAL) == 1,
            timeout=10,
            what="the chain's pick step in logistic.internal",
        )
        chargeback.chargeback(publisher=order_publisher)
        shipment = db.wait_for_status(order_id, "cancelled")
        announced = facts(vhost, order_id, expect=1)

    fact = announced["logistic.v1.shipment_cancelled"]
    assert fact["headers"]["event-id"] == fact_id("cancelled", order_id)
    assert fact["body"]["caused_by"] == str(chargeback.event_id)
    assert shipment.chargeback_event_id == chargeback.event_id

    # 2. a full worker: pick finds the shipment cancelled and ends the chain, quietly
    with running_worker(vhost, "logistic", app=make_logistic_app()):
        finished_tasks.wait_for(PICK)
    assert PACK not in finished_tasks.names
    assert queue_depth(vhost.url(), INTERNAL) == 0  # no pack step was published
    assert queue_depth(vhost.url(), f"{INTERNAL}.dlq") == 0
    assert queue_depth(vhost.url(), "order.logistic") == 0  # nothing dispatched
    assert db.status(order_id) == "cancelled"


def test_a_chargeback_after_dispatch_opens_a_return(
    vhost: TestVhost, logistic_app: Celery, order_publisher: Publisher, db: Database
) -> None:
    order_id = unique_order_id()
    order, chargeback = an_order(order_id), an_order(order_id)
    with running_worker(vhost, "logistic", app=logistic_app):
        order.submit(publisher=order_publisher)
        db.wait_for_status(order_id, "dispatched")
        chargeback.chargeback(publisher=order_publisher, correlation_id="corr-cb")
        db.wait_for_status(order_id, "return_opened")
        announced = facts(vhost, order_id, expect=2)

    assert set(announced) == {"logistic.v1.shipment_dispatched", "logistic.v1.shipment_returned"}
    returned = announced["logistic.v1.shipment_returned"]
    assert returned["headers"]["event-id"] == fact_id("returned", order_id)
    assert returned["headers"]["correlation-id"] == "corr-cb"
    assert returned["body"]["caused_by"] == str(chargeback.event_id)


def test_a_seed_v1_message_is_shipped(vhost: TestVhost, logistic_app: Celery, db: Database) -> None:
    order_id = unique_order_id()
    with running_worker(vhost, "logistic", app=logistic_app):
        task_id = publish_seed_v1(vhost.url("order-service"), order_id)
        shipment = db.wait_for_status(order_id, "dispatched")
        announced = facts(vhost, order_id, expect=1)

    assert shipment.submit_event_id == uuid.UUID(task_id)
    assert announced["logistic.v1.shipment_dispatched"]["body"]["caused_by"] == task_id


def test_a_chargeback_for_an_unknown_shipment_is_retried_then_dead_lettered(
    vhost: TestVhost, logistic_app: Celery, order_publisher: Publisher, finished_tasks: TaskLog
) -> None:
    order_id = unique_order_id()
    with running_worker(vhost, "logistic", app=logistic_app):
        an_order(order_id).chargeback(publisher=order_publisher)
        (letter,) = drain(vhost.url(), "logistic.order.dlq", expect=1, timeout=20)

    assert letter.headers["x-dead-letter-reason"] == "retries-exhausted"
    assert f"no shipment SHP-{order_id}" in letter.headers["x-dead-letter-detail"]
    assert finished_tasks.names.count("order.v2.chargeback") == 3  # first try + 2 retries
    assert queue_depth(vhost.url(), "order.logistic") == 0


def test_a_failing_step_is_retried_privately_and_the_chain_goes_on(
    vhost: TestVhost,
    logistic_app: Celery,
    order_publisher: Publisher,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order_id = unique_order_id()
    attempts: list[str] = []
    real_pack = Shipment.pack

    def pack_once_failing(shipment: Shipment, now: datetime) -> bool:
        attempts.append(shipment.shipment_id)
        if attempts.count(shipment.shipment_id) == 1:
            raise ConnectionError("warehouse system restarting")
        return real_pack(shipment, now)

    monkeypatch.setattr(Shipment, "pack", pack_once_failing)
    with running_worker(vhost, "logistic", app=logistic_app):
        an_order(order_id).submit(publisher=order_publisher)
        db.wait_for_status(order_id, "dispatched")
        announced = facts(vhost, order_id, expect=1)

    assert attempts == [f"SHP-{order_id}"] * 2
    assert "logistic.v1.shipment_dispatched" in announced
    assert queue_depth(vhost.url(), f"{INTERNAL}.dlq") == 0


def test_the_resume_job_restarts_a_stuck_shipment(
    vhost: TestVhost, logistic_app: Celery, db: Database
) -> None:
    order_id = unique_order_id()
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    stuck = Shipment.for_order(order_id, submitted_by=uuid.uuid4(), now=long_ago)
    stuck.pick(long_ago)  # e.g. the worker died after pick
    with db.uow() as uow:
        uow.shipments.add(stuck)
        uow.commit()

    with running_worker(vhost, "logistic", app=logistic_app):
        logistic_app.send_task(RESUME_STUCK_SHIPMENTS)  # what beat sends, through the broker
        db.wait_for_status(order_id, "dispatched")
        announced = facts(vhost, order_id, expect=1)

    assert announced["logistic.v1.shipment_dispatched"]["body"]["caused_by"] == str(
        stuck.submit_event_id
    )
