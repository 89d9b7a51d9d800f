"""The runtime against a real RabbitMQ with the generated topology and least-privilege users."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from importlib.metadata import version
from typing import Any

import pytest
from amqp.exceptions import AccessRefused
from celery.signals import task_prerun
from kombu import Connection, Producer

from event_contracts import (
    GET_INVOICE,
    Delivery,
    InvoiceQuery,
    InvoiceView,
    NotFound,
    Order,
    OrderLine,
    Publisher,
    RemoteCallError,
    RemoteCallTimeout,
    RpcClient,
    UnroutableMessage,
    create_app,
)
from event_contracts.testing import TestVhost, publish_plain, seed_v1_message, wait_until

from .conftest import Recorder, drain, queue_depth, running_worker, subscribed

pytestmark = pytest.mark.integration


def an_order(order_id: int = 7) -> Order:
    return Order.create(
        id=order_id,
        customer_id="c-1",
        currency="EUR",
        lines=(OrderLine(id=1, quantity=2, unit_price=Decimal("4.50")),),
    )


def publisher_for(vhost: TestVhost, service: str) -> Publisher:
    return Publisher(create_app(service, broker_urls=[vhost.url(f"{service}-service")]))


def seed_v1(order_id: int) -> tuple[dict[str, Any], str, str]:
    headers, body = seed_v1_message(order_id)
    return headers, body, str(headers["id"])


def publish_raw(
    vhost: TestVhost, routing_key: str, body: str | bytes, *, headers: dict[str, Any] | None = None
) -> None:
    publish_plain(vhost.url("order-service"), "order", routing_key, body, headers=headers)


def test_one_submit_reaches_both_queues_bound_version_agnostic(vhost: TestVhost) -> None:
    order = an_order()
    event_id = order.submit(publisher=publisher_for(vhost, "order"), correlation_id="corr-1")

    for queue in ("billing.order", "logistic.order"):
        (message,) = drain(vhost.url(), queue, expect=1)
        assert message.headers["task"] == "order.v2.submit"
        assert message.headers["event-id"] == str(event_id)
        assert message.headers["correlation-id"] == "corr-1"
        assert message.properties["delivery_mode"] == 2
        args, kwargs, _ = message.decode()
        assert kwargs["instance"]["lines"][0]["unit_price"] == "4.50"


def test_unroutable_publish_raises_instead_of_vanishing(vhost: TestVhost) -> None:
    publisher = publisher_for(vhost, "order")
    with pytest.raises(UnroutableMessage, match="order.v2.nobody_listens"):
        publisher.publish_payload("order.v2.nobody_listens", "order", {"x": 1}, event_id=uuid.uuid4())


def test_seed_v1_message_from_plain_kombu_reaches_a_v2_callback(vhost: TestVhost) -> None:
    received = Recorder()
    headers, body, task_id = seed_v1(41)
    with subscribed(Order.submit, received), running_worker(vhost, "billing"):
        publish_raw(vhost, "order.v1.submit", body, headers=headers)
        [(order, delivery)] = received.wait_for(1)

    assert isinstance(order, Order)
    assert order.id == 41
    assert order.event_id == uuid.UUID(task_id) == delivery.event_id
    assert order.currency == "EUR" and order.customer_id == "unknown"
    assert [line.unit_price for line in order.lines] == [Decimal("3"), Decimal("4.5")]
    assert delivery.dedupe_key == f"billing:{task_id}"


def test_each_consumer_gets_its_own_task_id(vhost: TestVhost) -> None:
    seen: list[str] = []

    def remember(task_id: str, **_: Any) -> None:
        seen.append(task_id)

    task_prerun.connect(remember)
    received = Recorder()
    try:
        with subscribed(Order.submit, received), running_worker(vhost, "billing"):
            event_id = an_order().submit(publisher=publisher_for(vhost, "order"))
            received.wait_for(1)
    finally:
        task_prerun.disconnect(remember)
    assert seen == [f"{event_id}.billing"]


def _dead_letters(vhost: TestVhost, expect: int) -> dict[str, Any]:
    return {
        m.headers["x-dead-letter-reason"]: m for m in drain(vhost.url(), "billing.order.dlq", expect=expect)
    }


def test_poison_messages_land_in_the_dlq_with_their_reason(vhost: TestVhost) -> None:
    received = Recorder()
    good_headers, good_body, _ = seed_v1(1)
    bad_shape = {**good_headers, "id": str(uuid.uuid4())}
    bad_payload_headers, _, _ = seed_v1(2)
    bad_payload = json.dumps([[], {"instance": {"id": "two", "lines": [{"id": 1}]}}, {}])
    unknown_version = {**seed_v1(3)[0], "task": "order.v3.submit"}
    unregistered = {**seed_v1(4)[0], "task": "billing.do_something"}

    with subscribed(Order.submit, received), running_worker(vhost, "billing"):
        publish_raw(vhost, "order.v2.submit", b"\x00not json{", headers=good_headers)
        publish_raw(vhost, "order.v1.submit", bad_payload, headers=bad_payload_headers)
        publish_raw(vhost, "order.v3.submit", good_body, headers=unknown_version)
        publish_raw(vhost, "order.v2.submit", good_body, headers=unregistered)
        publish_raw(vhost, "order.v2.submit", json.dumps({"no": "headers"}))
        publish_raw(vhost, "order.v2.submit", json.dumps({"wrong": "shape"}), headers=bad_shape)
        publish_raw(vhost, "order.v1.submit", good_body, headers=good_headers)  # still flows
        received.wait_for(1)
        letters = _dead_letters(vhost, expect=6)

    assert set(letters) == {
        "undecodable",
        "invalid-payload",
        "unknown-event-version",
        "unregistered-task",
        "not-a-task-message",
        "malformed-task-message",
    }
    invalid = letters["invalid-payload"].headers["x-dead-letter-detail"]
    assert "$.id" in invalid and "$.lines[0].quantity" in invalid
    assert letters["unknown-event-version"].headers["x-original-routing-key"] == "order.v3.submit"
    body = letters["undecodable"].body
    assert (body.encode() if isinstance(body, str) else body) == b"\x00not json{"  # kept as sent
    assert queue_depth(vhost.url(), "billing.order") == 0


def test_failing_handler_retries_privately_then_dead_letters(vhost: TestVhost) -> None:
    attempts: list[int] = []

    def always_fails(order: Order, delivery: Delivery) -> None:
        attempts.append(delivery.retries)
        raise RuntimeError("ledger unavailable")

    with subscribed(Order.submit, always_fails), running_worker(vhost, "billing"):
        an_order().submit(publisher=publisher_for(vhost, "order"))
        (letter,) = drain(vhost.url(), "billing.order.dlq", expect=1, timeout=20)

    assert attempts == [0, 1, 2]
    assert letter.headers["x-dead-letter-reason"] == "retries-exhausted"
    assert "ledger unavailable" in letter.headers["x-dead-letter-detail"]
    # the retries never went back through the topic exchange: logistic saw the event once
    assert len(drain(vhost.url(), "logistic.order", expect=1)) == 1
    assert queue_depth(vhost.url(), "logistic.order") == 0


def test_a_retry_succeeds_and_only_the_failing_consumer_runs_again(vhost: TestVhost) -> None:
    calls: list[int] = []

    def flaky(order: Order, delivery: Delivery) -> None:
        calls.append(delivery.retries)
        if delivery.retries == 0:
            raise ConnectionError("database restarting")

    with subscribed(Order.submit, flaky), running_worker(vhost, "billing"):
        an_order().submit(publisher=publisher_for(vhost, "order"))
        wait_until(lambda: calls == [0, 1], timeout=15, what="the retry to run")
    assert queue_depth(vhost.url(), "billing.order.dlq") == 0
    assert len(drain(vhost.url(), "logistic.order", expect=1)) == 1


def test_sync_call_answers_and_times_out_clearly(vhost: TestVhost) -> None:
    def invoice(query: InvoiceQuery) -> InvoiceView:
        if query.order_id != 5:
            raise NotFound(f"no invoice for order {query.order_id}")
        return InvoiceView(
            invoice_id="INV-5",
            order_id=5,
            customer_id="c",
            currency="EUR",
            amount=Decimal("9.00"),
            status="invoiced",
        )

    client = RpcClient(create_app("order", broker_urls=[vhost.url("order-service")]))
    GET_INVOICE.register_responder(invoice)
    with running_worker(vhost, "billing"):
        assert client.call(GET_INVOICE, InvoiceQuery(order_id=5)).amount == Decimal("9.00")
        with pytest.raises(RemoteCallError, match="not-found"):
            client.call(GET_INVOICE, InvoiceQuery(order_id=6))
    with pytest.raises(RemoteCallTimeout, match="within 0.5 s"):
        client.call(GET_INVOICE, InvoiceQuery(order_id=5), timeout=0.5)


def test_service_users_have_least_privilege(vhost: TestVhost) -> None:
    with Connection(vhost.url("billing-service")) as conn:
        producer = Producer(conn.channel())
        with pytest.raises(AccessRefused):
            producer.publish({}, exchange="order", routing_key="order.v2.submit", declare=())
            conn.drain_events(timeout=2)
    with Connection(vhost.url("billing-service")) as conn, pytest.raises(AccessRefused):
        conn.channel().basic_consume("logistic.order", callback=lambda m: None)
        conn.drain_events(timeout=2)


def test_its_connections_tell_the_broker_which_contracts_release_it_runs(vhost: TestVhost) -> None:
    app = create_app("order", broker_urls=[vhost.url("order-service")])
    expected = f"order-service (event-contracts {version('event-contracts')})"
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        names = wait_until(
            lambda: (
                expected in vhost.rabbit.ctl("list_connections", "--no-table-headers", "client_properties")
            ),
            timeout=10,
            what=f"a connection named {expected!r} (rabbitmqctl list_connections client_properties)",
        )
    assert names
