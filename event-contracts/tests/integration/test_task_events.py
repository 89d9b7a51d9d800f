"""Flower's view of a worker: each handled event is a task with its name, worker and outcome.

The worker publishes its task events without confirms (``ShopConsumer.connection_for_write``),
one per handling (``TASK_EVENTS=outcomes``, the default) or Celery's three (``all``); this is
what a monitor receives, read the way Flower reads it (Celery's event receiver and state).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from celery.events.state import State
from kombu import Connection, Exchange, Queue

from event_contracts import Order, OrderLine, Publisher, create_app
from event_contracts.runtime import consumer as consumer_module
from event_contracts.testing import TestVhost, wait_until

from .conftest import Recorder, running_worker, subscribed

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("task_events", "expected"),
    [
        ("outcomes", ["task-succeeded"]),
        ("all", ["task-received", "task-started", "task-succeeded"]),
    ],
)
def test_a_handled_event_reaches_the_monitor_as_one_task_with_its_outcome(
    vhost: TestVhost, monkeypatch: pytest.MonkeyPatch, task_events: str, expected: list[str]
) -> None:
    monkeypatch.setenv("TASK_EVENTS", task_events)
    seen: list[dict[str, Any]] = []
    handled = Recorder()
    order = _order(11)
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
        # The outcome is sent last, on the same connection as anything before it.
        while "task-succeeded" not in _states(seen):
            assert time.monotonic() < deadline, f"task events of order.v2.submit: {_states(seen)}"
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=0.5)
    receiver.connection.release()
    task_events = [e for e in seen if e["type"].startswith("task-")]
    assert [e["type"] for e in task_events] == expected
    assert len({e["uuid"] for e in task_events}) == 1, "one task, one id, across its states"
    state = State()
    for event in task_events:
        state.event(event)
    (task,) = state.tasks.values()
    assert (task.name, task.state) == ("order.v2.submit", "SUCCESS")
    assert task.worker.hostname.startswith("billing-service@")
    assert task.received is not None and task.started is not None and task.runtime is not None


def _states(events: list[dict[str, Any]]) -> set[str]:
    names = {e["uuid"] for e in events if e.get("name") == "order.v2.submit"}
    return {e["type"] for e in events if e.get("uuid") in names}


def test_a_burst_of_handlings_reaches_the_monitor_in_fewer_messages_than_tasks(
    vhost: TestVhost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy worker holds its task events briefly and publishes them together
    (``ShopConsumer.on_send_event_buffered``); each one still arrives, as its own task."""
    burst = 12
    # Held for 2 s here (0.1 s deployed), so the burst's handlings fall in one or two flushes
    # (at most 3 however slow the host); Celery's own flush, each loop turn, sent 5-9 for 12 tasks.
    monkeypatch.setattr(consumer_module, "FLUSH_SECONDS", 2.0)
    handled = Recorder()
    publisher = Publisher(create_app("order", broker_urls=[vhost.url("order-service")]))
    monitor = Queue(
        f"test-monitor-{uuid.uuid4().hex[:8]}",
        Exchange("celeryev", type="topic"),
        routing_key="task.#",
        exclusive=True,
    )
    with Connection(vhost.url()) as connection:
        bound = monitor(connection.default_channel)
        bound.declare()
        with subscribed(Order.submit, handled), running_worker(vhost, "billing"):
            for order_id in range(100, 100 + burst):
                _order(order_id).submit(publisher=publisher)
            handled.wait_for(burst)
            messages: list[Any] = []
            wait_until(
                lambda: _collect(bound, messages) >= burst,
                timeout=15,
                what=f"{burst} task-succeeded events (got {_succeeded(messages)})",
            )
    assert _succeeded(messages) == burst
    assert len(messages) <= 3, f"{burst} tasks' events came in {len(messages)} messages"


def _order(order_id: int) -> Order:
    return Order.create(
        id=order_id,
        customer_id="c-1",
        currency="EUR",
        lines=(OrderLine(id=1, quantity=1, unit_price=Decimal("2.00")),),
    )


def _collect(bound: Any, messages: list[Any]) -> int:
    """Take what the monitor's queue holds; the task-succeeded events received so far."""
    while (message := bound.get(no_ack=True)) is not None:
        messages.append(message.payload)
    return _succeeded(messages)


def _succeeded(messages: list[Any]) -> int:
    events = [e for m in messages for e in (m if isinstance(m, list) else [m])]
    return sum(1 for e in events if e.get("type") == "task-succeeded")
