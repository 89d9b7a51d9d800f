"""The HTTP edge through Flask's test client, on the service's real database (SQLite by default)
and a fake billing. The API only writes the outbox, so no broker is involved: every rejected
request is checked to have left the outbox as it was."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from event_contracts import RetryPolicy
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response

from order_service import bootstrap
from order_service.adapters import orm
from order_service.adapters.tokens import TokenVerifier
from order_service.entrypoints.flask_app import create_app
from order_service.service_layer.ports import (
    BillingError,
    BillingTimeout,
    BillingUnavailable,
    InvoiceNotFound,
)
from order_service.settings import Settings
from tests.conftest import IssuerForTests
from tests.fakes import FakeBilling, FakePublisher

pytestmark = pytest.mark.unit

CLOSED_BROKER = "amqp://nobody:nothing@127.0.0.1:1/shop"


@pytest.fixture
def services(database_url: str, verifier: TokenVerifier) -> Iterator[bootstrap.Services]:
    settings = Settings(
        database_url=database_url, broker_urls=(CLOSED_BROKER,), readiness_timeout=0.5
    )
    services = bootstrap.bootstrap(settings, billing=FakeBilling(), verifier=verifier)
    yield services
    services.engine.dispose()


@pytest.fixture
def app(services: bootstrap.Services) -> Flask:
    return create_app(services)


@pytest.fixture
def client(app: Flask, dev_issuer: IssuerForTests, customer: str) -> FlaskClient:
    """Calls as ``customer``, with both roles (this file tests the API; see test_auth.py)."""
    client = app.test_client()
    token = dev_issuer.token(customer, "customer", "support")
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def billing(services: bootstrap.Services) -> FakeBilling:
    assert isinstance(services.billing, FakeBilling)
    return services.billing


def outbox_rows(services: bootstrap.Services) -> list[dict[str, Any]]:
    with services.engine.connect() as connection:
        return [
            dict(row._mapping)
            for row in connection.execute(select(orm.outbox).order_by(orm.outbox.c.id))
        ]


def count(services: bootstrap.Services, table: Any) -> int:
    with services.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def order_body(customer: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": customer,
        "currency": "EUR",
        "lines": [{"id": 1, "quantity": 2, "unit_price": "4.50"}],
    }
    body.update(changes)
    return body


def line(**changes: Any) -> dict[str, Any]:
    return {"id": 1, "quantity": 2, "unit_price": "4.50", **changes}


def post_order(client: FlaskClient, body: Any, **headers: str) -> Any:
    return client.post("/orders", json=body, headers=headers)


# --- POST /orders ------------------------------------------------------------------------------


def test_post_order_returns_201_with_location_and_one_submit_in_the_outbox(
    client: FlaskClient,
    services: bootstrap.Services,
    customer: str,
) -> None:
    response = post_order(
        client,
        order_body(
            customer,
            lines=[
                line(id=2, quantity=1, unit_price="0.125"),
                line(id=1, quantity=2, unit_price="4.5"),
            ],
        ),
    )

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"/orders/{body['id']}"
    assert body["status"] == "in_review"
    assert body["total"] == "9.125"
    assert body["customer_id"] == customer and body["currency"] == "EUR"
    assert body["lines"] == [
        {"id": 1, "quantity": 2, "unit_price": "4.50"},
        {"id": 2, "quantity": 1, "unit_price": "0.125"},
    ]
    [row] = outbox_rows(services)
    assert (row["exchange"], row["routing_key"], row["published_at"]) == (
        "order",
        "order.v2.submit",
        None,
    )
    assert row["payload"]["id"] == body["id"]
    assert row["payload"]["event_id"] == str(row["event_id"])
    assert row["payload"]["lines"][1]["unit_price"] == "0.125"  # money as a string


def test_get_order_shows_what_post_returned(client: FlaskClient, customer: str) -> None:
    created = post_order(client, order_body(customer)).get_json()
    response = client.get(f"/orders/{created['id']}")
    assert response.status_code == 200
    assert response.get_json() == created


def test_correlation_id_goes_into_the_event(
    client: FlaskClient, services: bootstrap.Services, customer: str
) -> None:
    post_order(client, order_body(customer), **{"X-Correlation-ID": "trace-42"})
    assert outbox_rows(services)[0]["correlation_id"] == "trace-42"


TOO_MANY_LINES = [line(id=i) for i in range(1, 102)]

INVALID_BODIES: list[tuple[str, Any, int, str]] = [
    ("not an object", ["an", "array"], 422, "$"),
    ("missing currency", {"customer_id": "c", "lines": [line()]}, 422, "$.currency"),
    ("missing lines", {"customer_id": "c", "currency": "EUR"}, 422, "$.lines"),
    (
        "missing line field",
        {"customer_id": "c", "currency": "EUR", "lines": [{"id": 1, "quantity": 2}]},
        422,
        "$.lines[0].unit_price",
    ),
    (
        "customer not a string",
        {"customer_id": 7, "currency": "EUR", "lines": [line()]},
        422,
        "$.customer_id",
    ),
    (
        "empty customer",
        {"customer_id": "", "currency": "EUR", "lines": [line()]},
        422,
        "$.customer_id",
    ),
    (
        "control character in customer",
        {"customer_id": "a\u0000b", "currency": "EUR", "lines": [line()]},
        422,
        "$.customer_id",
    ),
    (
        "quantity as a string",
        {"customer_id": "c", "currency": "EUR", "lines": [line(quantity="2")]},
        422,
        "$.lines[0].quantity",
    ),
    (
        "quantity as a boolean",
        {"customer_id": "c", "currency": "EUR", "lines": [line(quantity=True)]},
        422,
        "$.lines[0].quantity",
    ),
    (
        "zero quantity",
        {"customer_id": "c", "currency": "EUR", "lines": [line(quantity=0)]},
        422,
        "$.lines[0].quantity",
    ),
    (
        "negative quantity",
        {"customer_id": "c", "currency": "EUR", "lines": [line(), line(id=2, quantity=-3)]},
        422,
        "$.lines[1].quantity",
    ),
    (
        "negative price",
        {"customer_id": "c", "currency": "EUR", "lines": [line(unit_price="-1.00")]},
        422,
        "$.lines[0].unit_price",
    ),
    (
        "non-decimal price",
        {"customer_id": "c", "currency": "EUR", "lines": [line(unit_price="four")]},
        422,
        "$.lines[0].unit_price",
    ),
    (
        "exponent price",
        {"customer_id": "c", "currency": "EUR", "lines": [line(unit_price="1e3")]},
        422,
        "$.lines[0].unit_price",
    ),
    (
        "float price",
        {"customer_id": "c", "currency": "EUR", "lines": [line(unit_price=4.5)]},
        422,
        "$.lines[0].unit_price",
    ),
    (
        "integer price",
        {"customer_id": "c", "currency": "EUR", "lines": [line(unit_price=4)]},
        422,
        "$.lines[0].unit_price",
    ),
    (
        "unknown currency",
        {"customer_id": "c", "currency": "XXX", "lines": [line()]},
        422,
        "$.currency",
    ),
    (
        "lower-case currency",
        {"customer_id": "c", "currency": "eur", "lines": [line()]},
        422,
        "$.currency",
    ),
    ("no lines", {"customer_id": "c", "currency": "EUR", "lines": []}, 422, "$.lines"),
    (
        "more than 100 lines",
        {"customer_id": "c", "currency": "EUR", "lines": TOO_MANY_LINES},
        422,
        "$.lines",
    ),
    (
        "lines not an array",
        {"customer_id": "c", "currency": "EUR", "lines": {"id": 1}},
        422,
        "$.lines",
    ),
    (
        "a line not an object",
        {"customer_id": "c", "currency": "EUR", "lines": [line(), 3]},
        422,
        "$.lines[1]",
    ),
    (
        "unknown top-level field",
        {"customer_id": "c", "currency": "EUR", "lines": [line()], "discount": "10%"},
        422,
        "$.discount",
    ),
    (
        "unknown line field",
        {"customer_id": "c", "currency": "EUR", "lines": [line(colour="red")]},
        422,
        "$.lines[0].colour",
    ),
    (
        "duplicate line ids",
        {"customer_id": "c", "currency": "EUR", "lines": [line(), line()]},
        422,
        "$.lines[1].id",
    ),
    (
        "line id zero",
        {"customer_id": "c", "currency": "EUR", "lines": [line(id=0)]},
        422,
        "$.lines[0].id",
    ),
    (
        "total too large",
        {
            "customer_id": "c",
            "currency": "EUR",
            "lines": [line(quantity=10_000, unit_price="999999999999")],
        },
        422,
        "$.lines",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "path"),
    [case[1:] for case in INVALID_BODIES],
    ids=[case[0] for case in INVALID_BODIES],
)
def test_invalid_orders_are_refused_with_the_field_path_and_nothing_in_the_outbox(
    client: FlaskClient,
    services: bootstrap.Services,
    body: Any,
    status: int,
    path: str,
) -> None:
    response = post_order(client, body)

    assert response.status_code == status
    assert response.is_json
    errors = response.get_json()["errors"]
    assert path in [error["path"] for error in errors], errors
    assert all(error["message"] for error in errors)
    assert outbox_rows(services) == []
    assert count(services, orm.orders) == 0


def test_every_problem_is_reported_at_once(client: FlaskClient) -> None:
    response = post_order(
        client,
        {
            "customer_id": 1,
            "currency": "XXX",
            "extra": 1,
            "lines": [line(quantity=0, unit_price=1.5, x=1)],
        },
    )
    paths = {error["path"] for error in response.get_json()["errors"]}
    assert paths == {
        "$.customer_id",
        "$.currency",
        "$.extra",
        "$.lines[0].quantity",
        "$.lines[0].unit_price",
        "$.lines[0].x",
    }


def test_error_messages_speak_json_not_python(client: FlaskClient) -> None:
    """The validating library's words name Python types and model classes; clients see JSON's."""
    response = post_order(
        client,
        {"customer_id": 1, "currency": "EUR", "lines": [line(), 3, line(id=2, unit_price=4.5)]},
    )
    messages = {error["path"]: error["message"] for error in response.get_json()["errors"]}
    assert messages == {
        "$.customer_id": "expected a string, got integer",
        "$.lines[1]": "expected an object, got integer",
        "$.lines[2].unit_price": 'expected a decimal string such as "4.50", got number',
    }


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"customer_id": "c",', "malformed JSON"),
        (b"", "malformed JSON"),
        (b'{"customer_id": NaN}', "NaN is not a JSON number"),
        (b'{"a": 1, "a": 2}', "duplicate key"),
    ],
)
def test_malformed_json_is_400(
    client: FlaskClient, services: bootstrap.Services, raw: bytes, reason: str
) -> None:
    response = client.post("/orders", data=raw, content_type="application/json")
    assert response.status_code == 400
    [error] = response.get_json()["errors"]
    assert error["path"] == "$" and reason in error["message"]
    assert outbox_rows(services) == []


def test_non_utf8_body_is_400(client: FlaskClient, services: bootstrap.Services) -> None:
    response = client.post(
        "/orders", data=b'{"customer_id": "\xff"}', content_type="application/json"
    )
    assert response.status_code == 400 and "UTF-8" in response.get_json()["error"]
    assert outbox_rows(services) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(
    client: FlaskClient, services: bootstrap.Services, customer: str, content_type: str | None
) -> None:
    response = client.post(
        "/orders", data=json.dumps(order_body(customer)), content_type=content_type
    )
    assert response.status_code == 415
    assert "application/json" in response.get_json()["error"]
    assert outbox_rows(services) == []


def test_json_with_charset_is_accepted(client: FlaskClient, customer: str) -> None:
    response = client.post(
        "/orders",
        data=json.dumps(order_body(customer)),
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 201


def test_a_body_over_the_limit_is_413(
    client: FlaskClient, services: bootstrap.Services, customer: str
) -> None:
    body = order_body(customer, padding="x" * (64 * 1024))
    response = post_order(client, body)
    assert response.status_code == 413
    assert response.get_json()["limit_bytes"] == 64 * 1024
    assert response.headers["Connection"] == "close"  # the unread body must not be parsed next
    assert outbox_rows(services) == []


def test_a_chunked_body_over_the_limit_is_413(
    app: Flask, services: bootstrap.Services, dev_issuer: IssuerForTests
) -> None:
    """No Content-Length (chunked): the limit still applies while the body is read."""
    body = b'{"customer_id": "' + b"x" * (100 * 1024) + b'"}'
    environ = EnvironBuilder(
        path="/orders",
        method="POST",
        data=body,
        content_type="application/json",
        headers=[("Transfer-Encoding", "chunked"), *dev_issuer.bearer("x", "customer").items()],
    ).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    response = Response.from_app(app.wsgi_app, environ)
    assert response.status_code == 413
    assert outbox_rows(services) == []


# --- Idempotency-Key ---------------------------------------------------------------------------


def test_a_replayed_idempotency_key_returns_the_same_response_and_publishes_nothing_new(
    client: FlaskClient,
    services: bootstrap.Services,
    customer: str,
) -> None:
    key = f"key-{customer}"
    first = post_order(client, order_body(customer), **{"Idempotency-Key": key})
    client.post(f"/orders/{first.get_json()['id']}/chargeback")  # the order moved on since
    again = post_order(client, order_body(customer), **{"Idempotency-Key": key})

    assert (again.status_code, again.data) == (first.status_code, first.data)
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(services, orm.orders) == 1
    assert [row["routing_key"] for row in outbox_rows(services)] == [
        "order.v2.submit",
        "order.v2.chargeback",
    ]


def test_the_same_key_in_another_key_order_is_the_same_request(
    client: FlaskClient,
    services: bootstrap.Services,
    customer: str,
) -> None:
    key = f"key-{customer}"
    first = client.post(
        "/orders",
        data=json.dumps(order_body(customer)),
        content_type="application/json",
        headers={"Idempotency-Key": key},
    )
    reordered = json.dumps(dict(reversed(list(order_body(customer).items()))), indent=2)
    again = client.post(
        "/orders", data=reordered, content_type="application/json", headers={"Idempotency-Key": key}
    )
    assert again.data == first.data
    assert len(outbox_rows(services)) == 1


def test_the_same_key_with_another_body_is_422(
    client: FlaskClient, services: bootstrap.Services, customer: str
) -> None:
    key = f"key-{customer}"
    post_order(client, order_body(customer), **{"Idempotency-Key": key})
    response = post_order(client, order_body(customer, currency="USD"), **{"Idempotency-Key": key})

    assert response.status_code == 422
    assert "different request body" in response.get_json()["error"]
    assert response.get_json()["errors"][0]["path"] == "headers.Idempotency-Key"
    assert len(outbox_rows(services)) == 1


def test_different_keys_make_different_orders(client: FlaskClient, customer: str) -> None:
    one = post_order(client, order_body(customer), **{"Idempotency-Key": f"a-{customer}"})
    two = post_order(client, order_body(customer), **{"Idempotency-Key": f"b-{customer}"})
    assert one.get_json()["id"] != two.get_json()["id"]


@pytest.mark.parametrize("key", ["", "x" * 201, "with space", "tab\tkey"])
def test_a_malformed_idempotency_key_is_400(
    client: FlaskClient, services: bootstrap.Services, customer: str, key: str
) -> None:
    response = post_order(client, order_body(customer), **{"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["path"] == "headers.Idempotency-Key"
    assert outbox_rows(services) == []


# --- chargeback --------------------------------------------------------------------------------


def test_chargeback_is_202_and_queues_a_new_event_with_the_same_order(
    client: FlaskClient,
    services: bootstrap.Services,
    customer: str,
) -> None:
    order = post_order(client, order_body(customer)).get_json()
    response = client.post(f"/orders/{order['id']}/chargeback")

    assert response.status_code == 202
    assert response.get_json()["status"] == "charged_back"
    assert client.get(f"/orders/{order['id']}").get_json()["status"] == "charged_back"
    submit, chargeback = outbox_rows(services)
    assert chargeback["routing_key"] == "order.v2.chargeback"
    assert chargeback["event_id"] != submit["event_id"]
    fresh = ("event_id", "occurred_at")
    assert {k: v for k, v in chargeback["payload"].items() if k not in fresh} == {
        k: v for k, v in submit["payload"].items() if k not in fresh
    }


def test_a_second_chargeback_is_409_and_queues_nothing(
    client: FlaskClient,
    services: bootstrap.Services,
    customer: str,
) -> None:
    order = post_order(client, order_body(customer)).get_json()
    client.post(f"/orders/{order['id']}/chargeback")
    response = client.post(f"/orders/{order['id']}/chargeback")

    assert response.status_code == 409
    body = response.get_json()
    assert body["order_status"] == "charged_back"
    assert "already charged back" in body["error"]
    assert len(outbox_rows(services)) == 2


@pytest.mark.parametrize(
    "path",
    ["/orders/987654/chargeback", "/orders/987654", "/orders/987654/invoice", f"/orders/{2**64}"],
)
def test_unknown_orders_are_404(
    client: FlaskClient, services: bootstrap.Services, path: str
) -> None:
    response = client.post(path) if path.endswith("chargeback") else client.get(path)
    assert response.status_code == 404
    assert "does not exist" in response.get_json()["error"]
    assert outbox_rows(services) == []


# --- invoice (billing faked) -------------------------------------------------------------------


@pytest.fixture
def order_id(client: FlaskClient, customer: str) -> int:
    return int(post_order(client, order_body(customer)).get_json()["id"])


def test_invoice_is_billings_answer(
    client: FlaskClient, billing: FakeBilling, order_id: int
) -> None:
    billing.answer = {
        "invoice_id": f"INV-{order_id}",
        "order_id": order_id,
        "customer_id": "c",
        "currency": "EUR",
        "amount": "9.0000",
        "status": "invoiced",
    }
    response = client.get(f"/orders/{order_id}/invoice")
    assert response.status_code == 200
    assert response.get_json()["amount"] == "9.00"
    assert billing.asked == [order_id]


@pytest.mark.parametrize(
    "case",
    [
        (InvoiceNotFound("no invoice"), 404, "has no invoice for order"),
        (BillingTimeout("late"), 504, "billing did not answer within 2 s"),
        (BillingUnavailable("refused"), 503, "broker is unreachable"),
        (BillingError("boom"), 502, "billing answered with an error"),
    ],
    ids=["not-found", "timeout", "broker-down", "billing-error"],
)
def test_invoice_errors(
    client: FlaskClient, billing: FakeBilling, order_id: int, case: tuple[Exception, int, str]
) -> None:
    error, status, text = case
    billing.answer = error
    response = client.get(f"/orders/{order_id}/invoice")
    assert response.status_code == status
    assert text in response.get_json()["error"]


def test_invoice_of_an_unknown_order_does_not_ask_billing(
    client: FlaskClient, billing: FakeBilling
) -> None:
    assert client.get("/orders/424242/invoice").status_code == 404
    assert billing.asked == []


# --- the rest is JSON too ----------------------------------------------------------------------


def test_unknown_route_is_json_404(client: FlaskClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404 and response.is_json
    assert response.get_json()["error"] == "no such resource: /nope"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/orders/1", "GET"),
        ("get", "/orders", "POST"),
        ("get", "/orders/1/chargeback", "POST"),
        ("put", "/healthz", "GET"),
    ],
)
def test_wrong_method_is_json_405(
    client: FlaskClient, method: str, path: str, allowed: str
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 405 and response.is_json
    assert allowed in response.get_json()["allowed_methods"]
    assert allowed in response.headers["Allow"]


def test_unexpected_errors_are_json_500(
    app: Flask, client: FlaskClient, services: bootstrap.Services, customer: str
) -> None:
    services.engine.dispose()
    services.session_factory.configure(bind=None)
    response = post_order(client, order_body(customer))
    assert response.status_code == 500 and response.is_json
    assert response.get_json()["error"].startswith("internal error")


UNREACHABLE_DATABASE = "postgresql+psycopg://nobody:nothing@127.0.0.1:1/order_service"


@pytest.fixture
def client_without_database(
    dev_issuer: IssuerForTests, verifier: TokenVerifier
) -> Iterator[FlaskClient]:
    """The edge wired to a PostgreSQL server that is not there (connection refused)."""
    settings = Settings(database_url=UNREACHABLE_DATABASE, broker_urls=(CLOSED_BROKER,))
    services = bootstrap.bootstrap(
        settings, run_migrations=False, billing=FakeBilling(), verifier=verifier
    )
    client = create_app(services).test_client()
    token = dev_issuer.token("c-down", "customer", "support")
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    yield client
    services.engine.dispose()


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/orders"), ("get", "/orders/1"), ("post", "/orders/1/chargeback")],
)
def test_an_unreachable_database_is_503_with_retry_after(
    client_without_database: FlaskClient, method: str, path: str
) -> None:
    kwargs: dict[str, Any] = {}
    if path == "/orders":
        kwargs = {"json": order_body("c-down"), "headers": {"Idempotency-Key": "k-down"}}
    response = getattr(client_without_database, method)(path, **kwargs)
    assert response.status_code == 503 and response.is_json
    body = response.get_json()
    assert body["status"] == 503
    assert "database is unavailable" in body["error"]
    assert body["detail"]
    assert int(response.headers["Retry-After"]) == body["retry_after_seconds"] > 0


def test_other_database_errors_stay_500(
    client: FlaskClient, services: bootstrap.Services, customer: str
) -> None:
    """A database that answers with an error is a bug to look at, not an outage to wait out."""
    with services.engine.begin() as connection:  # renamed back: db-tests share one database
        connection.exec_driver_sql("ALTER TABLE order_lines RENAME TO order_lines_hidden")
    try:
        response = post_order(client, order_body(customer))
    finally:
        with services.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE order_lines_hidden RENAME TO order_lines")
    assert response.status_code == 500 and response.is_json
    assert "Retry-After" not in response.headers


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_names_the_failing_dependency(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["database"] == "ok"
    assert checks["broker"].startswith("failed")


def test_a_parked_event_shows_in_its_order_and_in_readyz(
    client: FlaskClient, services: bootstrap.Services, customer: str
) -> None:
    bad = post_order(client, order_body(customer)).get_json()
    good = post_order(client, order_body(customer)).get_json()
    with services.engine.begin() as connection:  # a routing key no queue is bound for
        connection.execute(
            update(orm.outbox)
            .where(orm.outbox.c.order_id == bad["id"])
            .values(routing_key="order.v2.unbound")
        )
    relay = bootstrap.build_relay(
        services, publisher=FakePublisher(unroutable={"order.v2.unbound"})
    )
    relay.row_retries = RetryPolicy(max_retries=0)
    assert relay.run_once().parked == 1

    [parked] = client.get(f"/orders/{bad['id']}").get_json()["parked_events"]
    assert parked["routing_key"] == "order.v2.unbound" and parked["attempts"] == 1
    assert parked["event_id"] and parked["parked_at"]
    assert parked["last_error"].startswith("UnroutableMessage: no queue is bound")
    assert client.get(f"/orders/{good['id']}").get_json()["parked_events"] == []
    assert client.get("/readyz").get_json()["outbox"] == {"parked": 1}


def test_openapi_documents_every_route_and_resolves_every_reference(
    app: Flask, client: FlaskClient
) -> None:
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    routes = {
        rule.rule.replace("<int:order_id>", "{order_id}")
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
    }
    assert routes == set(document["paths"])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            methods = next(
                r.methods
                for r in app.url_map.iter_rules()
                if r.rule.replace("<int:order_id>", "{order_id}") == path
            )
            assert methods is not None and method.upper() in methods
            assert operation["responses"]
    text = json.dumps(document)
    for reference in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        kind, name = reference.removeprefix("#/components/").split("/")
        assert name in document["components"][kind], reference
    request = document["components"]["schemas"]["OrderRequest"]
    assert request["additionalProperties"] is False
    assert set(request["required"]) == {"currency", "lines"}  # customer_id: the token's subject
    order_line = document["components"]["schemas"]["OrderLine"]
    assert order_line["additionalProperties"] is False
    assert order_line["properties"]["unit_price"]["type"] == "string"  # money is never a number
    assert request["properties"]["lines"]["maxItems"] == 100
    assert "EUR" in request["properties"]["currency"]["enum"]


def test_concurrent_requests_with_one_key_make_one_order(
    app: Flask,
    services: bootstrap.Services,
    customer: str,
    dev_issuer: IssuerForTests,
) -> None:
    key, body = f"key-{customer}", order_body(customer)
    bearer = f"Bearer {dev_issuer.token(customer, 'customer')}"
    start = threading.Barrier(6)
    answers: list[tuple[int, bytes]] = []

    def submit() -> None:
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = bearer
        start.wait()
        response = post_order(client, body, **{"Idempotency-Key": key})
        answers.append((response.status_code, response.data))

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 6
    assert {answer for answer in answers} == {answers[0]}
    assert answers[0][0] == 201
    assert count(services, orm.orders) == 1
    assert len(outbox_rows(services)) == 1
