"""Per-queue prefetch: the queues with their own count start last, each right after its count."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from kombu import Exchange, Queue

from event_contracts import create_app
from event_contracts.runtime.prefetch import QUEUE_PREFETCH, PerQueuePrefetchConsumer

pytestmark = pytest.mark.unit


def queue(name: str) -> Queue:
    return Queue(name, Exchange(name, type="direct", no_declare=True), routing_key=name, no_declare=True)


def started(channel: MagicMock) -> list[tuple[str, object]]:
    """The channel's qos and consume calls, in order."""
    calls: list[tuple[str, object]] = []
    for name, args, kwargs in channel.mock_calls:
        if name == "basic_qos":
            calls.append(("qos", args[1]))
        elif name == "basic_consume":
            calls.append(("consume", kwargs.get("queue", args[0] if args else None)))
    return calls


def test_a_queue_with_its_own_count_starts_after_the_others_under_that_count() -> None:
    channel = MagicMock()
    consumer = PerQueuePrefetchConsumer(
        channel,
        queues=[queue("logistic.order"), queue("logistic.internal")],
        auto_declare=False,
        prefetch_per_queue={"logistic.order": 1, "not.consumed": 3},
    )
    consumer.consume()
    assert started(channel) == [
        ("consume", "logistic.internal"),  # under the worker's count, set before (by Celery)
        ("qos", 1),
        ("consume", "logistic.order"),
    ]
    channel.reset_mock()
    consumer.consume()  # consuming again starts nothing twice
    assert started(channel) == []


def test_without_counts_it_is_kombus_consumer() -> None:
    channel = MagicMock()
    consumer = PerQueuePrefetchConsumer(channel, queues=[queue("a"), queue("b")], auto_declare=False)
    consumer.consume()
    assert started(channel) == [("consume", "a"), ("consume", "b")]


def test_the_app_factory_uses_it_for_the_task_consumer() -> None:
    app = create_app("logistic", broker_urls=["amqp://nobody:nothing@127.0.0.1:1/shop"])
    app.conf[QUEUE_PREFETCH] = {"logistic.order": 1}
    consumer = app.amqp.TaskConsumer(MagicMock())
    assert isinstance(consumer, PerQueuePrefetchConsumer)
    assert consumer.prefetch_per_queue == {"logistic.order": 1}
    assert {q.name for q in consumer.queues} == {"logistic.order", "logistic.internal"}
