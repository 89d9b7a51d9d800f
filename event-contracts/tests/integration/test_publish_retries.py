"""A confirmed publish retried by one backoff: a dead node, failover to a live one, a nack.

Each attempt is one publish with at most one connection attempt; after a connection error the
next attempt goes to the next node of the failover list. So a broker that is down costs at most
``max_retries + 1`` connection attempts and the policy's waits, not kombu's retry inside ours.
"""

from __future__ import annotations

import logging
import socketserver
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from kombu.connection import Connection
from kombu.entity import Queue

from event_contracts import Order, OrderLine, Publisher, PublishFailed, create_app
from event_contracts.runtime.publisher import PUBLISH_RETRY_POLICY, publish_with_confirm
from event_contracts.testing import TestVhost

from .conftest import drain

pytestmark = pytest.mark.integration

ATTEMPTS = int(PUBLISH_RETRY_POLICY["max_retries"]) + 1
WAITS = 0.2 + 0.4 + 0.8 + 1.6 + 2.0 + 2.0  # interval_start doubling, at most interval_max


class DeadNode(socketserver.ThreadingTCPServer):
    """A broker node that is down: its port takes each connection and closes it at once,
    counting them (a refused connection could not be counted)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), socketserver.BaseRequestHandler)
        self.connections = 0
        self.counting = threading.Lock()

    def process_request(self, request: object, client_address: object) -> None:
        with self.counting:
            self.connections += 1
        self.shutdown_request(request)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return f"amqp://order-service:order-service@127.0.0.1:{self.server_address[1]}/shop"


@pytest.fixture
def dead_node() -> Iterator[DeadNode]:
    node = DeadNode()
    serving = threading.Thread(target=node.serve_forever, daemon=True)
    serving.start()
    yield node
    node.shutdown()
    node.server_close()


def an_order(order_id: int = 41) -> Order:
    line = OrderLine(id=1, quantity=1, unit_price=Decimal("1.00"))  # type: ignore[arg-type]
    return Order.create(id=order_id, customer_id="c-1", currency="EUR", lines=(line,))


@pytest.mark.timeout(60)
def test_a_broker_that_is_down_costs_at_most_the_policys_attempts_and_waits(
    dead_node: DeadNode,
) -> None:
    publisher = Publisher(create_app("order", broker_urls=[dead_node.url]))

    started = time.monotonic()
    with pytest.raises(PublishFailed, match=f"after {ATTEMPTS} attempts"):
        publisher.publish(Order.submit, an_order())
    took = time.monotonic() - started

    assert dead_node.connections == ATTEMPTS
    assert WAITS <= took < WAITS + 5.0, f"{took:.1f} s"


def test_a_node_that_is_down_is_left_for_the_next_one_in_the_list(
    vhost: TestVhost, dead_node: DeadNode
) -> None:
    app = create_app("order", broker_urls=[dead_node.url, vhost.url("order-service")])

    event_id = Publisher(app).publish(Order.submit, an_order())

    assert dead_node.connections == 1
    (message,) = drain(vhost.url(), "billing.order", expect=1)
    assert message.headers["event-id"] == str(event_id)


def test_a_connection_the_broker_closed_is_replaced_and_the_event_published(vhost: TestVhost) -> None:
    """The pooled connection is gone between two publishes: one layer reconnects, once."""
    publisher = Publisher(create_app("order", broker_urls=[vhost.url("order-service")]))
    first = publisher.publish(Order.submit, an_order(42))
    vhost.rabbit.ctl("close_all_connections", "-p", vhost.name, "closed by the test")

    second = publisher.publish(Order.submit, an_order(43))

    ids = {message.headers["event-id"] for message in drain(vhost.url(), "billing.order", expect=2)}
    assert ids == {str(first), str(second)}


def test_a_nack_is_published_again_then_given_up_after_the_policys_attempts(
    vhost: TestVhost, caplog: pytest.LogCaptureFixture
) -> None:
    """A queue that is full and rejects publishes: the broker nacks every attempt."""
    full = Queue(
        "full.rejecting",
        durable=True,
        queue_arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
    )
    with Connection(vhost.url()) as admin:
        full.bind(admin.default_channel).declare()
    app = create_app("order", broker_urls=[vhost.url()])

    with (
        caplog.at_level(logging.WARNING, logger="event_contracts.runtime.publisher"),
        pytest.raises(PublishFailed, match=rf"after {ATTEMPTS} attempts: MessageNacked"),
    ):
        publish_with_confirm(app, "{}", exchange="", routing_key=full.name, headers={})

    retries = [r for r in caplog.records if "publishing again" in r.getMessage()]
    assert len(retries) == ATTEMPTS - 1
