"""The seed article's v1 message, published by plain kombu as order-service, reaches both
consumers and is handled as v2 (an EUR invoice in billing's database, a shipment in logistic's)."""

from __future__ import annotations

from decimal import Decimal

from e2e.clients import amqp
from e2e.clients.databases import Databases
from e2e.clients.settings import Settings


def test_seed_v1_message_is_handled_as_v2(amqp_ok: Settings, dbs: Databases, unique_order_id, record) -> None:
    order_id = unique_order_id()
    headers, body, task_id = amqp.seed_v1_message(order_id)

    amqp.publish_raw(amqp_ok, "order-service", "order", "order.v1.submit", body, headers=headers)

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
