"""Scenario 3: a v1 message in the seed article's shape, published by plain kombu as
order-service, reaches both queues and is handled as v2 (EUR invoice, a shipment)."""

from __future__ import annotations

from decimal import Decimal

from e2e.clients import amqp
from e2e.clients.broker_admin import BrokerAdmin
from e2e.clients.databases import Databases
from e2e.clients.settings import Settings

CONSUMER_QUEUES = ("billing.order", "logistic.order")


def test_seed_v1_message_is_handled_as_v2(
    amqp_ok: Settings, broker: BrokerAdmin, dbs: Databases, unique_order_id, record
) -> None:
    order_id = unique_order_id()
    headers, body, task_id = amqp.seed_v1_message(order_id)
    before = {q: broker.counters(q) for q in CONSUMER_QUEUES}

    amqp.publish_raw(amqp_ok, "order-service", "order", "order.v1.submit", body, headers=headers)

    for queue in CONSUMER_QUEUES:
        broker.wait_counters(queue, before[queue], at_least={"publish": 1, "ack": 1})
    billing, logistic = dbs.wait_handled([order_id], timeout=60)
    assert billing == {order_id: 1} and logistic == {order_id: 1}
    invoice = dbs.invoice(order_id)
    assert invoice is not None
    assert invoice["currency"] == "EUR"  # v1 has no currency: upcast to v2's documented default
    assert Decimal(invoice["amount"]) == Decimal("10.50")  # 2 x 3 + 1 x 4.5
    shipment = dbs.shipment(order_id)
    assert shipment is not None and shipment["shipment_id"] == f"SHP-{order_id}"
    # order-service never took this order: it dead-letters billing's and logistic's facts about
    # it (a check of its own), and the test takes them out again.
    facts = amqp.take_facts_about(amqp_ok, order_id)
    record(
        order=order_id,
        event=task_id,
        currency=invoice["currency"],
        amount=str(invoice["amount"]),
        facts_dead_lettered_by_order_service=facts,
    )
