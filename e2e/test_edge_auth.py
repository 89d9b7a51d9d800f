"""Who may call what at the edge, live: bearer tokens from the stack's dev issuer, verified by
the edge against the issuer's published keys.

A matrix of callers (no token, an expired one, one with a wrong signature, one for another
audience, customer A, customer B, support) × every order endpoint, each answer exactly as
specified; a rejected call writes nothing to the outbox. Customer B cannot see A's order (404,
as for an order that does not exist: ids cannot be probed) nor charge anything back; the
ledger records who charged an order back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from e2e.clients.databases import Databases
from e2e.clients.edge import Edge, Issuer
from e2e.clients.waits import wait_until

UNKNOWN_ORDER = 8_999_999_999_998
BODY = {"currency": "EUR", "lines": [{"id": 1, "quantity": 1, "unit_price": "2.50"}]}

CALLERS = ("none", "expired", "wrong_signature", "wrong_audience", "customer_a", "customer_b", "support")
ENDPOINTS = ("place", "place_for_a", "get", "invoice", "chargeback")
UNAUTHENTICATED = dict.fromkeys(ENDPOINTS, 401)
# place: POST /orders without customer_id (the caller's subject); place_for_a: customer_id A's;
# get, invoice, chargeback: on A's order.
EXPECTED: dict[str, dict[str, int]] = {
    "none": UNAUTHENTICATED,
    "expired": UNAUTHENTICATED,
    "wrong_signature": UNAUTHENTICATED,
    "wrong_audience": UNAUTHENTICATED,
    "customer_a": {"place": 201, "place_for_a": 201, "get": 200, "invoice": 200, "chargeback": 403},
    "customer_b": {"place": 201, "place_for_a": 403, "get": 404, "invoice": 404, "chargeback": 403},
    "support": {"place": 403, "place_for_a": 403, "get": 200, "invoice": 200, "chargeback": 202},
}


class World:
    """Customer A's invoiced order, and a token for each caller of the matrix."""

    def __init__(self, edge: Edge, issuer: Issuer) -> None:
        run = uuid.uuid4().hex[:10]
        self.customer_a, self.customer_b = f"e2e-auth-a-{run}", f"e2e-auth-b-{run}"
        self.support = f"e2e-auth-support-{run}"
        a_token = issuer.mint(self.customer_a, "customer")
        other = issuer.mint(self.customer_b, "customer")
        self.tokens = {
            "none": "",
            "expired": issuer.mint(self.customer_a, "customer", expires_in=-300),
            # A's header and claims with another token's signature: signed, but not this content
            "wrong_signature": ".".join([*a_token.split(".")[:2], other.split(".")[2]]),
            "wrong_audience": issuer.mint(self.customer_a, "customer", audience="another-api"),
            "customer_a": a_token,
            "customer_b": other,
            "support": issuer.mint(self.support, "support"),
        }
        placed = edge.post_order({**BODY, "customer_id": self.customer_a}, token=a_token)
        assert placed.status_code == 201, placed.text
        self.order_id = int(placed.json()["id"])
        wait_until(
            lambda: edge.get_invoice(self.order_id, token=a_token).status_code == 200,
            timeout=60,
            what=f"billing to invoice order {self.order_id} (GET /orders/{self.order_id}/invoice 200)",
        )


@pytest.fixture(scope="module")
def world(edge: Edge, issuer: Issuer) -> Iterator[World]:
    yield World(edge, issuer)


def call(edge: Edge, world: World, caller: str, endpoint: str) -> httpx.Response:
    token = world.tokens[caller]
    calls: dict[str, Callable[[], httpx.Response]] = {
        "place": lambda: edge.post_order(dict(BODY), token=token),
        "place_for_a": lambda: edge.post_order({**BODY, "customer_id": world.customer_a}, token=token),
        "get": lambda: edge.get_order(world.order_id, token=token),
        "invoice": lambda: edge.get_invoice(world.order_id, token=token),
        "chargeback": lambda: edge.post_chargeback(world.order_id, token=token),
    }
    return calls[endpoint]()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("caller", CALLERS)
def test_matrix(caller: str, endpoint: str, edge: Edge, world: World, dbs: Databases) -> None:
    expected = EXPECTED[caller][endpoint]
    last = dbs.outbox_last_id()
    response = call(edge, world, caller, endpoint)

    assert response.status_code == expected, (
        f"{caller} {endpoint}: {response.status_code} {response.text[:300]}"
    )
    assert response.headers.get("content-type", "").startswith("application/json")
    challenge = response.headers.get("WWW-Authenticate", "")
    if expected == 401:
        error = "" if caller == "none" else ', error="invalid_token", error_description="'
        assert challenge.startswith(f'Bearer realm="shop"{error}'), challenge
    if expected == 403:
        assert 'error="insufficient_scope"' in challenge, challenge
    if expected >= 400:
        assert response.json()["error"], response.text
        assert dbs.outbox_rows_after(last) == 0, f"{caller} {endpoint}: the outbox grew for a refusal"
    if expected == 201:
        subject = {"customer_a": world.customer_a, "customer_b": world.customer_b}[caller]
        assert response.json()["customer_id"] == subject
        rows = dbs.order.rows("SELECT actor_subject FROM outbox WHERE id > %s", (last,))
        assert rows == [(subject,)], rows  # the submit event names who placed it


def test_another_customers_order_looks_like_no_order(edge: Edge, world: World) -> None:
    """B learns nothing from A's order id: the same answer as for an id that does not exist."""
    token = world.tokens["customer_b"]
    for read in (edge.get_order, edge.get_invoice):
        theirs, unknown = read(world.order_id, token=token), read(UNKNOWN_ORDER, token=token)
        assert theirs.status_code == unknown.status_code == 404
        assert set(theirs.json()) == set(unknown.json())
        assert theirs.json()["error"].replace(str(world.order_id), "N") == unknown.json()["error"].replace(
            str(UNKNOWN_ORDER), "N"
        )


def test_open_endpoints_need_no_token(edge: Edge) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json"):
        response = edge.http.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:200]}"
    operations = edge.http.get("/openapi.json").json()["paths"]["/orders/{order_id}/chargeback"]
    assert operations["post"]["security"] == [{"bearer": []}]


def test_the_ledger_records_who_charged_back(edge: Edge, issuer: Issuer, dbs: Databases, record) -> None:
    customer, agent = f"e2e-auth-c-{uuid.uuid4().hex[:10]}", f"e2e-auth-agent-{uuid.uuid4().hex[:6]}"
    placed = edge.post_order({**BODY, "customer_id": customer}, token=issuer.mint(customer, "customer"))
    assert placed.status_code == 201, placed.text
    order_id = int(placed.json()["id"])
    support = issuer.mint(agent, "support")
    wait_until(
        lambda: edge.get_invoice(order_id, token=support).status_code == 200,
        timeout=60,
        what=f"billing to invoice order {order_id}",
    )
    assert edge.post_chargeback(order_id, token=support).status_code == 202

    def reversal() -> tuple[str, str] | None:
        rows = dbs.billing.rows(
            "SELECT actor_subject, actor_token_id FROM journal_entries"
            " WHERE order_id = %s AND kind = 'reversal'",
            (order_id,),
        )
        return rows[0] if rows else None

    who = wait_until(reversal, timeout=60, what=f"billing to post the reversal of order {order_id}")
    invoice_actor = dbs.billing.value(
        "SELECT actor_subject FROM journal_entries WHERE order_id = %s AND kind = 'invoice'", (order_id,)
    )
    assert who[0] == agent and who[1], who  # the support agent and its token's jti
    assert invoice_actor == customer  # the invoice: who placed the order
    record(order_id=order_id, charged_back_by=agent)
