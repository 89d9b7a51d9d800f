"""The Order aggregate's state machine: every transition, and facts in any order."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_service.domain import events
from order_service.domain.errors import InvalidTransition
from order_service.domain.model import Order, OrderLine, ShipmentOutcome, Status, derive_status

pytestmark = pytest.mark.unit


def an_order(order_id: int = 1) -> Order:
    order = Order.place(
        customer_id="c-1",
        currency="EUR",
        lines=[OrderLine(2, 1, Decimal("0.125")), OrderLine(1, 2, Decimal("4.50"))],
    )
    order.id = order_id
    return order


def test_a_placed_order_is_in_review_with_its_total_and_a_submitted_event() -> None:
    order = an_order()
    assert order.status == Status.IN_REVIEW
    assert order.total == Decimal("9.125")
    assert [line.line_id for line in order.lines] == [1, 2]
    assert order.events == [events.Submitted()]


def test_invoiced_then_dispatched() -> None:
    order = an_order()
    order.mark_invoiced()
    assert order.status == Status.INVOICED
    order.mark_dispatched()
    assert order.status == Status.DISPATCHED


def test_dispatched_before_invoiced_waits_for_the_invoice() -> None:
    order = an_order()
    order.mark_dispatched()
    assert order.status == Status.IN_REVIEW
    assert order.dispatched
    order.mark_invoiced()
    assert order.status == Status.DISPATCHED


@pytest.mark.parametrize(
    "before", [[], ["mark_invoiced"], ["mark_invoiced", "mark_dispatched"], ["mark_dispatched"]]
)
def test_chargeback_is_allowed_before_any_chargeback(before: list[str]) -> None:
    order = an_order()
    for step in before:
        getattr(order, step)()
    order.events.clear()
    order.charge_back()
    assert order.status == Status.CHARGED_BACK
    assert order.events == [events.ChargedBack()]


@pytest.mark.parametrize(
    "after",
    [
        [],
        ["mark_refunded"],
        ["mark_refunded", "mark_shipment_cancelled"],
        ["mark_refunded", "mark_shipment_returned"],
        ["mark_shipment_returned"],
    ],
)
def test_a_second_chargeback_is_refused_whatever_followed_the_first(after: list[str]) -> None:
    order = an_order()
    order.charge_back()
    for step in after:
        getattr(order, step)()
    status = order.status
    with pytest.raises(InvalidTransition, match="already charged back") as refused:
        order.charge_back()
    assert refused.value.status == status
    assert order.events == [events.Submitted(), events.ChargedBack()]  # nothing new


def test_refund_and_cancelled_shipment_end_cancelled() -> None:
    order = an_order()
    order.mark_invoiced()
    order.charge_back()
    order.mark_refunded()
    assert order.status == Status.CHARGED_BACK
    order.mark_shipment_cancelled()
    assert order.status == Status.CANCELLED
    assert order.is_final


def test_refund_and_returned_shipment_end_returned() -> None:
    order = an_order()
    order.mark_invoiced()
    order.mark_dispatched()
    order.charge_back()
    order.mark_shipment_returned()
    assert order.status == Status.CHARGED_BACK
    order.mark_refunded()
    assert order.status == Status.RETURNED


def test_a_shipment_cannot_be_both_cancelled_and_returned() -> None:
    order = an_order()
    order.charge_back()
    order.mark_shipment_cancelled()
    order.mark_shipment_cancelled()  # the same fact again changes nothing
    with pytest.raises(InvalidTransition, match="already reported the shipment cancelled"):
        order.mark_shipment_returned()
    assert order.shipment_outcome == "cancelled"


def test_facts_set_updated_at() -> None:
    order = an_order()
    before = order.updated_at
    order.mark_invoiced()
    assert order.updated_at >= before


FACTS: dict[str, Callable[[Order], None]] = {
    "invoiced": Order.mark_invoiced,
    "dispatched": Order.mark_dispatched,
    "refunded": Order.mark_refunded,
    "cancelled": Order.mark_shipment_cancelled,
}
FINAL_FACTS: dict[str, Callable[[Order], None]] = {
    "invoiced": Order.mark_invoiced,
    "dispatched": Order.mark_dispatched,
    "refunded": Order.mark_refunded,
    "returned": Order.mark_shipment_returned,
}


@given(st.permutations(list(FINAL_FACTS)), st.integers(min_value=0, max_value=4))
def test_any_order_of_facts_ends_in_the_same_status(order_of_facts: list[str], when: int) -> None:
    """The chargeback at any point among the facts: the end is ``returned`` all the same."""
    order = an_order()
    steps: list[Callable[[Order], None]] = [FINAL_FACTS[name] for name in order_of_facts]
    steps.insert(when, Order.charge_back)
    for step in steps:
        step(order)
    assert order.status == Status.RETURNED


@given(st.lists(st.sampled_from(["invoiced", "dispatched"]), max_size=6))
def test_without_chargeback_the_status_is_what_the_flags_say(facts: list[str]) -> None:
    order = an_order()
    for name in facts:
        FACTS[name](order)
    expected = (
        Status.DISPATCHED
        if {"invoiced", "dispatched"} <= set(facts)
        else Status.INVOICED
        if "invoiced" in facts
        else Status.IN_REVIEW
    )
    assert order.status == expected


@pytest.mark.parametrize(
    ("flags", "status"),
    [
        ({}, Status.IN_REVIEW),
        ({"dispatched": True}, Status.IN_REVIEW),
        ({"invoiced": True}, Status.INVOICED),
        ({"invoiced": True, "dispatched": True}, Status.DISPATCHED),
        ({"charged_back": True, "invoiced": True, "dispatched": True}, Status.CHARGED_BACK),
        ({"charged_back": True, "refunded": True}, Status.CHARGED_BACK),
        ({"charged_back": True, "shipment_outcome": "cancelled"}, Status.CHARGED_BACK),
        (
            {"charged_back": True, "refunded": True, "shipment_outcome": "cancelled"},
            Status.CANCELLED,
        ),
        ({"charged_back": True, "refunded": True, "shipment_outcome": "returned"}, Status.RETURNED),
    ],
)
def test_derive_status_table(flags: dict[str, object], status: Status) -> None:
    outcome = flags.get("shipment_outcome")
    assert (
        derive_status(
            invoiced=bool(flags.get("invoiced")),
            dispatched=bool(flags.get("dispatched")),
            charged_back=bool(flags.get("charged_back")),
            refunded=bool(flags.get("refunded")),
            shipment_outcome=ShipmentOutcome(outcome) if isinstance(outcome, str) else None,
        )
        == status
    )
