"""Messages: round trips for every message and version, upcasting, every error with its path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from event_contracts import (
    BalanceView,
    ContractError,
    Envelope,
    Invoice,
    InvoiceView,
    Order,
    OrderLine,
    OrderV1,
    Shipment,
    structure,
    unstructure,
)
from event_contracts.messages.order import LEGACY_V1_CURRENCY, LEGACY_V1_CUSTOMER, MAX_LINES
from event_contracts.serialization import ISO_4217_CODES

pytestmark = pytest.mark.unit

ids = st.integers(min_value=0, max_value=2**53)
money = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
instants = st.datetimes(timezones=st.just(UTC))
currencies = st.sampled_from(sorted(ISO_4217_CODES))
texts = st.text(min_size=1, max_size=64)
lines = st.builds(OrderLine, id=ids, quantity=st.integers(1, 10_000), unit_price=money)
orders = st.builds(
    Order,
    event_id=st.uuids(),
    id=ids,
    customer_id=texts,
    currency=currencies,
    lines=st.lists(lines, min_size=1, max_size=MAX_LINES).map(tuple),
    occurred_at=instants,
)
invoices = st.builds(
    Invoice,
    event_id=st.uuids(),
    invoice_id=texts,
    order_id=ids,
    customer_id=texts,
    currency=currencies,
    amount=money,
    occurred_at=instants,
    caused_by=st.uuids(),
)
shipments = st.builds(
    Shipment, event_id=st.uuids(), shipment_id=texts, order_id=ids, occurred_at=instants, caused_by=st.uuids()
)
views = st.builds(
    InvoiceView,
    invoice_id=texts,
    order_id=ids,
    customer_id=texts,
    currency=currencies,
    amount=money,
    status=st.sampled_from(["invoiced", "refunded"]),
)
balances = st.builds(
    BalanceView, account=texts, currency=currencies, debits=money, credits=money, balance=st.just("0")
)
v1_lines = st.fixed_dictionaries(
    {
        "id": ids,
        "quantity": st.integers(1, 10_000),
        "price": st.one_of(st.integers(0, 10**6), money.map(float)),
    }
)


@pytest.mark.parametrize(
    "strategy",
    [orders, invoices, shipments, views, balances],
    ids=["Order", "Invoice", "Shipment", "InvoiceView", "BalanceView"],
)
@given(data=st.data())
def test_every_message_survives_a_json_round_trip(strategy: Any, data: st.DataObject) -> None:
    message = data.draw(strategy)
    wire = unstructure(message)
    assert structure(wire, type(message)) == message
    assert not any(isinstance(v, float) for v in _leaves(wire)), "money is never a float"


@given(order_id=ids, v1=st.lists(v1_lines, min_size=1, max_size=10))
def test_v1_round_trips_and_upcasts_to_v2_with_documented_defaults(order_id: int, v1: Any) -> None:
    payload = {"id": order_id, "lines": v1}
    legacy = structure(payload, OrderV1)
    envelope = Envelope(event_id=uuid.uuid4(), occurred_at=datetime(2024, 5, 1, 10, tzinfo=UTC))
    order = Order.submit.decode("order.v1.submit", payload, envelope)
    assert order.id == legacy.id == order_id
    assert order.event_id == envelope.event_id
    assert (order.currency, order.customer_id) == (LEGACY_V1_CURRENCY, LEGACY_V1_CUSTOMER)
    assert order.occurred_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert [(l.id, l.quantity, l.unit_price) for l in order.lines] == [
        (l["id"], l["quantity"], Decimal(repr(l["price"]))) for l in v1
    ]


def test_v1_float_price_is_read_exactly_as_sent() -> None:
    order = Order.submit.decode(
        "order.v1.submit",
        {"id": 1, "lines": [{"id": 1, "quantity": 1, "price": 0.1}]},
        Envelope(uuid.uuid4(), datetime.now(UTC)),
    )
    assert order.lines[0].unit_price == Decimal("0.1")
    assert order.total == Decimal("0.1")


def test_a_v1_price_finer_than_v2_allows_is_refused_not_rounded() -> None:
    with pytest.raises(ContractError, match=r"\$\.lines\[0\]\.unit_price"):
        Order.submit.decode(
            "order.v1.submit",
            {"id": 1, "lines": [{"id": 1, "quantity": 1, "price": 0.03125}]},
            Envelope(uuid.uuid4(), datetime.now(UTC)),
        )


def test_an_unknown_version_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="order.v3.submit"):
        Order.submit.decode("order.v3.submit", {}, Envelope(uuid.uuid4(), datetime.now(UTC)))


def _good() -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "id": 1,
        "customer_id": "c",
        "currency": "EUR",
        "lines": [{"id": 1, "quantity": 1, "unit_price": "1.00"}],
        "occurred_at": "2024-01-01T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"id": "1"}, "$.id", "expected an integer"),
        ({"id": True}, "$.id", "expected an integer"),
        ({"currency": "EURO"}, "$.currency", "ISO 4217"),
        ({"customer_id": ""}, "$.customer_id", "1 to 64"),
        ({"lines": []}, "$.lines", "1 to 100 lines"),
        ({"lines": [{"id": 1}] * 101}, "$.lines", "1 to 100 lines"),
        ({"lines": [{"id": 1, "quantity": 0, "unit_price": "1"}]}, "$.lines[0].quantity", "between 1"),
        ({"lines": [{"id": 1, "quantity": 1, "unit_price": 1.5}]}, "$.lines[0].unit_price", "decimal string"),
        ({"lines": [{"id": 1, "quantity": 1, "unit_price": "-1"}]}, "$.lines[0].unit_price", "non-negative"),
        ({"lines": [{"id": 1, "quantity": 1, "unit_price": "NaN"}]}, "$.lines[0].unit_price", "non-negative"),
        ({"lines": [{"id": 1, "quantity": 1}]}, "$.lines[0].unit_price", "required field missing"),
        ({"event_id": "nope"}, "$.event_id", "not a UUID"),
        ({"occurred_at": "2024-01-01T00:00:00"}, "$.occurred_at", "UTC offset"),
        ({"occurred_at": "yesterday"}, "$.occurred_at", "ISO 8601"),
    ],
)
def test_every_bad_field_is_named_by_its_path(change: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(ContractError) as caught:
        structure({**_good(), **change}, Order)
    assert (path, True) in [(e.path, words in e.message) for e in caught.value.errors]


def test_all_errors_are_reported_at_once() -> None:
    with pytest.raises(ContractError) as caught:
        structure({"id": "x", "currency": 3, "lines": [{"quantity": "two"}]}, Order)
    paths = {e.path for e in caught.value.errors}
    assert {"$.id", "$.currency", "$.event_id", "$.lines[0].quantity", "$.lines[0].id"} <= paths
    assert caught.value.as_dict()["type"] == "Order"


def test_a_non_object_payload_is_refused() -> None:
    with pytest.raises(ContractError, match=r"\$: expected an object, got array"):
        structure([1, 2], Order)


def _leaves(value: Any) -> Any:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value
