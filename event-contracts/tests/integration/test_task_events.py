"""Flower's view of a worker: each handled event is a task with its states and outcome.

The worker publishes its task events without confirms (``ShopConsumer.connection_for_write``);
this is what a monitor still receives, read the way Flower reads it (Celery's event receiver).
"""

from __future__ import annotations

import contextlib
import time
from decimal import Decimal
from typing import Any

import pytest
from kombu import Connection

from event_contracts import Order, OrderLine, Publisher, create_app
from event_contracts.testing import TestVhost

from .conftest import Recorder, running_worker, subscribed

pytestmark = pytest.mark.integration


def test_a_handled_event_reaches_the_monitor_as_a_task_received_started_and_succeeded(
    vhost: TestVhost,
) -> None:
    seen: list[dict[str, Any]] = []
    handled = Recorder()
    order = Order.create(
        id=11,
        customer_id="c-1",
        currency="EUR",
        lines=(OrderLine(id=1, quantity=1, unit_price=Decimal("2.00")),),
    )
    publisher = Publisher(create_app("order", broker_urls=[vhost.url("order-service")]))
    receiver = create_app("billing", broker_urls=[vhost.url()]).events.Receiver(
        Connection(vhost.url()), handlers={"*": seen.append}
    )
    # The receiver's queue exists before the worker starts, as Flower's does.
    with (
        receiver.consumer_context() as (connection, _channel, _consumers),
        subscribed(Order.submit, handled),
        running_worker(vhost, "billing"),
    ):
        order.submit(publisher=publisher)
        handled.wait_for(1)
        deadline = time.monotonic() + 15
        while not _states(seen) >= {"task-received", "task-started", "task-succeeded"}:
            assert time.monotonic() < deadline, f"task events of order.v2.submit: {_states(seen)}"
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=0.5)
    receiver.connection.release()
    task_events = [e for e in seen if e["type"].startswith("task-")]
    assert len({e["uuid"] for e in task_events}) == 1, "one task, one id, across its states"
    received = next(e for e in task_events if e["type"] == "task-received")
    assert received["name"] == "order.v2.submit"
    assert received["hostname"].startswith("billing-service@")


def _states(events: list[dict[str, Any]]) -> set[str]:
    names = {e["uuid"] for e in events if e.get("name") == "order.v2.submit"}
    return {e["type"] for e in events if e.get("uuid") in names}
