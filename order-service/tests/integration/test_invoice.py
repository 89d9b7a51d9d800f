"""``GET /orders/{id}/invoice``: asked of billing synchronously over the real broker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from event_contracts import GET_INVOICE, InvoiceQuery, InvoiceView, NotFound
from event_contracts.serialization import CurrencyCode, Money
from event_contracts.testing import TestVhost, running_worker
from flask.testing import FlaskClient

from order_service import bootstrap
from tests.integration.conftest import (
    CLOSED_PORT_BROKER,
    INVOICE_TIMEOUT,
    api_client,
    make_services,
    place,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def billing_answers() -> Iterator[dict[int, InvoiceView]]:
    """Register a billing responder that knows the invoices put in the returned dict."""
    invoices: dict[int, InvoiceView] = {}

    def answer(query: InvoiceQuery) -> InvoiceView:
        if query.order_id not in invoices:
            raise NotFound(f"no invoice for order {query.order_id}")
        return invoices[query.order_id]

    GET_INVOICE.register_responder(answer)
    yield invoices
    GET_INVOICE.responder = None


def test_invoice_comes_from_billing(
    api: FlaskClient, vhost: TestVhost, customer: str, billing_answers: dict[int, InvoiceView]
) -> None:
    order_id = place(api, customer)["id"]
    billing_answers[order_id] = InvoiceView(
        invoice_id=f"INV-{order_id}",
        order_id=order_id,
        customer_id=customer,
        currency=CurrencyCode("EUR"),
        amount=Money(Decimal("9.0000")),
        status="invoiced",
    )
    with running_worker(vhost, "billing"):
        response = api.get(f"/orders/{order_id}/invoice")
        not_yet = api.get(f"/orders/{place(api, customer)['id']}/invoice")

    assert response.status_code == 200
    assert response.get_json() == {
        "invoice_id": f"INV-{order_id}",
        "order_id": order_id,
        "customer_id": customer,
        "currency": "EUR",
        "amount": "9.00",
        "status": "invoiced",
    }
    assert not_yet.status_code == 404
    assert "has no invoice" in not_yet.get_json()["error"]


def test_no_billing_worker_is_504_within_the_timeout(api: FlaskClient, customer: str) -> None:
    order_id = place(api, customer)["id"]
    started = time.monotonic()
    response = api.get(f"/orders/{order_id}/invoice")
    elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert response.get_json()["error"] == f"billing did not answer within {INVOICE_TIMEOUT:g} s"
    assert INVOICE_TIMEOUT <= elapsed < INVOICE_TIMEOUT + 1.0


def test_unreachable_broker_is_503(
    services: bootstrap.Services, database_url: str, customer: str, api: FlaskClient
) -> None:
    order_id = place(api, customer)["id"]
    down = make_services(database_url, CLOSED_PORT_BROKER, services.verifier)
    try:
        started = time.monotonic()
        client = api_client(down, api.environ_base["HTTP_AUTHORIZATION"].removeprefix("Bearer "))
        response = client.get(f"/orders/{order_id}/invoice")
        elapsed = time.monotonic() - started
    finally:
        down.engine.dispose()
    assert response.status_code == 503
    assert "broker is unreachable" in response.get_json()["error"]
    assert elapsed < 10


def test_readyz_is_ready_with_database_and_broker(api: FlaskClient) -> None:
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "broker": "ok"},
        "outbox": {"parked": 0},
    }
