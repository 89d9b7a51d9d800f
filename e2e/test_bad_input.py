"""Every error case of the order API answers its 4xx, with the field path for
validation errors, always as JSON, and publishes nothing (the outbox does not grow, and
billing.order receives no message for them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from e2e.clients import amqp
from e2e.clients.broker_admin import BrokerAdmin
from e2e.clients.databases import Databases
from e2e.clients.edge import Edge, order_body
from e2e.clients.settings import Settings
from e2e.clients.waits import wait_until

UNKNOWN_ORDER = 8_999_999_999_999
VALIDATION = (400, 422)


def _without(field: str) -> dict[str, Any]:
    body = order_body()
    del body[field]
    return body


def _line(**changes: Any) -> dict[str, Any]:
    line = {"id": 1, "quantity": 2, "unit_price": "4.50", **changes}
    return order_body(lines=[{k: v for k, v in line.items() if v is not ...}])


def _body(**changes: Any) -> dict[str, Any]:
    return {**order_body(), **changes}


Call = Callable[[Edge], httpx.Response]
# name → (request, accepted statuses, field path that must be named or None)
CASES: dict[str, tuple[Call, tuple[int, ...], str | None]] = {
    "malformed_json": (lambda e: e.post_order(content=b'{"customer_id": "c-1", "lines": ['), (400,), None),
    "not_an_object": (lambda e: e.post_order([order_body()]), VALIDATION, "$"),
    # customer_id left out is the token's subject; another customer's is refused (403)
    "another_customers_id": (
        lambda e: e.post_order(_body(customer_id="e2e-someone-else"), token=e.customer_token()),
        (403,),
        "$.customer_id",
    ),
    "missing_currency": (lambda e: e.post_order(_without("currency")), VALIDATION, "$.currency"),
    "missing_lines": (lambda e: e.post_order(_without("lines")), VALIDATION, "$.lines"),
    "missing_line_quantity": (lambda e: e.post_order(_line(quantity=...)), VALIDATION, "$.lines[0].quantity"),
    "customer_id_not_a_string": (lambda e: e.post_order(_body(customer_id=5)), VALIDATION, "$.customer_id"),
    "lines_not_an_array": (lambda e: e.post_order(_body(lines={"id": 1})), VALIDATION, "$.lines"),
    "quantity_not_an_integer": (
        lambda e: e.post_order(_line(quantity="two")),
        VALIDATION,
        "$.lines[0].quantity",
    ),
    "quantity_zero": (lambda e: e.post_order(_line(quantity=0)), VALIDATION, "$.lines[0].quantity"),
    "quantity_negative": (lambda e: e.post_order(_line(quantity=-3)), VALIDATION, "$.lines[0].quantity"),
    "price_negative": (
        lambda e: e.post_order(_line(unit_price="-1.00")),
        VALIDATION,
        "$.lines[0].unit_price",
    ),
    "price_not_decimal": (
        lambda e: e.post_order(_line(unit_price="4,50 EUR")),
        VALIDATION,
        "$.lines[0].unit_price",
    ),
    "price_json_float": (lambda e: e.post_order(_line(unit_price=4.5)), VALIDATION, "$.lines[0].unit_price"),
    "unknown_currency": (lambda e: e.post_order(_body(currency="XYZ")), VALIDATION, "$.currency"),
    "no_lines": (lambda e: e.post_order(_body(lines=[])), VALIDATION, "$.lines"),
    "too_many_lines": (
        lambda e: e.post_order(
            order_body(lines=[{"id": i, "quantity": 1, "unit_price": "1.00"} for i in range(1, 102)])
        ),
        VALIDATION,
        "$.lines",
    ),
    "extra_field": (lambda e: e.post_order(_body(coupon="FREE")), VALIDATION, "$.coupon"),
    "extra_line_field": (lambda e: e.post_order(_line(colour="red")), VALIDATION, "$.lines[0].colour"),
    # On its own connection: the edge answers 413 without reading the body and then drops the
    # connection it had announced as keep-alive (reported), which would break the next request.
    "body_too_large": (
        lambda e: e.post_order(content=json.dumps(_body(customer_id="x" * 70_000)), fresh=True),
        (413,),
        None,
    ),
    "wrong_content_type": (
        lambda e: e.post_order(content=json.dumps(order_body()), headers={"Content-Type": "text/plain"}),
        (415,),
        None,
    ),
    "unknown_order": (lambda e: e.get_order(UNKNOWN_ORDER), (404,), None),
    "unknown_order_chargeback": (lambda e: e.post_chargeback(UNKNOWN_ORDER), (404,), None),
    "unknown_route": (lambda e: e.http.get("/no-such-thing"), (404,), None),
    "wrong_method": (lambda e: e.http.delete("/orders"), (405,), None),
}


def _check(name: str, response: httpx.Response) -> None:
    _, statuses, path = CASES[name]
    assert response.status_code in statuses, f"{name}: {response.status_code} {response.text[:300]}"
    assert response.headers.get("content-type", "").startswith("application/json"), (
        f"{name}: not JSON: {response.headers.get('content-type')} {response.text[:200]}"
    )
    body = response.json()
    if path is not None:
        paths = [e.get("path") for e in body.get("errors", [])]
        assert path in paths, f"{name}: expected an error at {path}, got {body}"


@pytest.mark.parametrize("name", list(CASES))
def test_rejected_with_status_and_path(name: str, edge: Edge, dbs: Databases) -> None:
    last = dbs.outbox_last_id()
    response = CASES[name][0](edge)
    _check(name, response)
    assert dbs.outbox_rows_after(last) == 0, f"{name}: the outbox grew for a rejected request"


def test_second_chargeback_is_a_conflict(edge: Edge, dbs: Databases) -> None:
    order_id = edge.submit()["id"]
    edge.chargeback(order_id)
    last = dbs.outbox_last_id()
    response = edge.post_chargeback(order_id)
    assert response.status_code == 409, response.text
    assert response.headers.get("content-type", "").startswith("application/json")
    assert dbs.outbox_rows_after(last) == 0


def test_rejected_requests_publish_nothing(
    edge: Edge, dbs: Databases, broker: BrokerAdmin, amqp_ok: Settings, record
) -> None:
    """All the bad requests, then one good order: what is sent to billing.order is exactly the
    good order's event.

    A tap queue bound to ``order`` with billing.order's own binding keys sees every message
    billing.order is sent, exactly and at once (the management API's counters are sampled
    every few seconds, too coarse for "nothing more"). The good order marks the end: the relay
    publishes in outbox order, so anything the bad requests had caused would arrive before it.
    """
    keys = broker.binding_keys("billing.order", "order")
    wait_until(
        lambda: dbs.outbox_unpublished() == 0,
        timeout=60,
        what="the relay to publish what earlier tests wrote to the outbox",
    )
    with amqp.Tap(amqp_ok, "order", keys) as tap:
        last = dbs.outbox_last_id()
        for name, (call, _, _) in CASES.items():
            _check(name, call(edge))
        good = edge.submit()["id"]

        def good_arrived() -> list:
            return [m for m in tap.take() if _order_id_of(m) == good]

        wait_until(
            good_arrived,
            timeout=30,
            what=f"order {good}'s event on the order exchange",
            describe=lambda: f"{len(tap.seen)} other message(s)",
        )
        others = [m.headers.get("task") for m in tap.take() if _order_id_of(m) != good]
    assert others == [], f"rejected requests published {others}"
    assert dbs.outbox_rows_after(last) == 1
    record(cases=len(CASES) + 1, published_for_rejected=len(others), tap_bindings=",".join(keys))


def _order_id_of(message) -> int | None:
    try:
        _, kwargs, _ = json.loads(message.body)
        return int(kwargs["instance"]["id"])
    except (ValueError, KeyError, TypeError):
        return None
