"""GET /orders/{id}/invoice is answered by billing over the broker; with billing
stopped the edge answers 504 within its timeout; once billing is back it answers again."""

from __future__ import annotations

import time

import pytest

from e2e.clients.containers import Containers
from e2e.clients.databases import Databases
from e2e.clients.edge import Edge
from e2e.clients.settings import Settings
from e2e.clients.waits import wait_until

pytestmark = pytest.mark.timeout(600)
SLACK = 2.0  # seconds the edge may take beyond INVOICE_TIMEOUT (request handling, HTTP)


def test_invoice_answered_then_504_while_billing_is_down(
    edge: Edge, dbs: Databases, containers: Containers, settings: Settings, record
) -> None:
    order_id = edge.submit()["id"]
    dbs.wait_handled([order_id], timeout=60)
    first = wait_until(
        lambda: (r := edge.get_invoice(order_id)).status_code == 200 and r,
        timeout=30,
        what=f"GET /orders/{order_id}/invoice to answer 200",
    )
    invoice = first.json()
    assert invoice["order_id"] == order_id and invoice["invoice_id"] == f"INV-{order_id}"
    assert invoice["status"] == "invoiced"

    billing = containers.of("billing-service", running_only=True)
    try:
        for name in billing:
            containers.stop(name)
        started = time.monotonic()
        response = edge.get_invoice(order_id)
        took = time.monotonic() - started
        assert response.status_code == 504, response.text
        assert "error" in response.json()
        assert took <= settings.invoice_timeout + SLACK, f"504 after {took:.2f} s"
    finally:
        for name in billing:
            containers.ensure_running(name)
    restarted = time.monotonic()
    wait_until(
        lambda: edge.get_invoice(order_id).status_code == 200,
        timeout=180,
        interval=1,
        what="the invoice endpoint to answer 200 again after billing restarted",
    )
    record(
        order=order_id,
        status_down=504,
        seconds_to_504=took,
        seconds_to_answer_again=time.monotonic() - restarted,
    )
