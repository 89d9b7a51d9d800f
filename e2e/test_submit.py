"""POST /orders → the submit event reaches billing and logistic (each records its effect in its
own database), billing posts the invoice, logistic creates the shipment, and the order ends
``dispatched``."""

from __future__ import annotations

from decimal import Decimal

from e2e.clients.databases import Databases
from e2e.clients.edge import Edge, order_body
from e2e.clients.waits import Stopwatch


def test_submitted_order_is_invoiced_shipped_and_dispatched(edge: Edge, dbs: Databases, record) -> None:
    clock = Stopwatch()

    response = edge.post_order(order_body())
    assert response.status_code == 201, response.text
    order = response.json()
    order_id = order["id"]
    assert order["status"] == "in_review"
    assert Decimal(order["total"]) == Decimal("12.00")
    assert response.headers.get("Location", "").endswith(f"/orders/{order_id}")

    billing, logistic = dbs.wait_handled([order_id], timeout=60)
    assert billing == {order_id: 1} and logistic == {order_id: 1}
    invoice = dbs.invoice(order_id)
    assert invoice is not None
    assert (invoice["currency"], Decimal(invoice["amount"])) == ("EUR", Decimal("12.00"))
    assert invoice["invoice_id"] == f"INV-{order_id}"
    entries = dbs.order_postings(order_id)
    assert sum(p["debit"] for p in entries) == sum(p["credit"] for p in entries) == Decimal("12.00")

    final = edge.wait_for_status(order_id, "dispatched", timeout=90)
    shipment = dbs.shipment(order_id)
    assert shipment is not None and shipment["status"] == "dispatched"
    assert final["id"] == order_id
    record(order=order_id, seconds_to_dispatched=clock())
