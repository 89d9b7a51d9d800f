"""Delivery limits on RabbitMQ 4: explicit on every queue, and none where browsing returns messages.

RabbitMQ 4.x gives every quorum queue a delivery limit of 20 and drops a message returned more
often than that when the queue has no dead-letter target: a dead-letter queue that an operator
browses (get, then return) would lose what it holds. These tests return messages more times
than any limit in force and look at where they went.
"""

from __future__ import annotations

import pytest
from kombu import Connection

from event_contracts.generate import UNLIMITED_DELIVERIES, definitions
from event_contracts.testing import TestVhost, queue_depth, wait_until
from event_contracts.topology import DELIVERY_LIMIT, TOPOLOGY

pytestmark = pytest.mark.integration

BROKER_DEFAULT_LIMIT = 20


def returned(url: str, queue: str, times: int) -> int:
    """Get the head message of ``queue`` and return it (reject, requeue) up to ``times`` times.

    Returns how often a message was there to get. ``basic.reject`` counts as a failed delivery
    on every 4.x release (4.3 stopped counting ``basic.nack``), so this is the worst case.
    """
    got = 0
    with Connection(url) as conn:
        channel = conn.channel()
        for _ in range(times):
            message = channel.basic_get(queue, no_ack=False)
            if message is None:
                break
            got += 1
            channel.basic_reject(message.delivery_tag, requeue=True)
    return got


def put(url: str, queue: str, body: bytes = b"{}") -> None:
    with Connection(url) as conn:
        channel = conn.channel()
        channel.confirm_select()
        channel.basic_publish(channel.prepare_message(body), exchange="", routing_key=queue)


def test_every_queue_has_an_explicit_delivery_limit() -> None:
    generated = definitions(TOPOLOGY)
    limited = {p["name"]: p["definition"].get("delivery-limit") for p in generated["policies"]}
    queues = {q["name"] for q in generated["queues"]}
    assert queues <= limited.keys(), f"queues without a policy: {sorted(queues - limited.keys())}"
    assert all(limit is not None for limit in limited.values()), limited
    assert {limited[q] for q in queues if q.endswith((".dlq", ".retry"))} == {UNLIMITED_DELIVERIES}


def test_a_dead_letter_queue_keeps_a_message_browsed_past_any_limit(vhost: TestVhost) -> None:
    admin = vhost.url()
    dlq = "billing.order.dlq"
    put(admin, dlq)
    wait_until(lambda: queue_depth(admin, dlq) == 1, timeout=10, what=f"the message in {dlq}")

    times = BROKER_DEFAULT_LIMIT + DELIVERY_LIMIT + 5
    assert returned(admin, dlq, times) == times
    assert queue_depth(admin, dlq) == 1


def test_a_work_queue_dead_letters_past_its_limit_instead_of_dropping(vhost: TestVhost) -> None:
    admin = vhost.url()
    put(admin, "billing.order")
    wait_until(lambda: queue_depth(admin, "billing.order") == 1, timeout=10, what="the message")

    assert returned(admin, "billing.order", BROKER_DEFAULT_LIMIT + 5) == DELIVERY_LIMIT + 1
    wait_until(
        lambda: queue_depth(admin, "billing.order.dlq") == 1,
        timeout=10,
        what="the message dead-lettered into billing.order.dlq",
    )
