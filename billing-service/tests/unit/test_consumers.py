"""billing's callbacks on the contracts, driven by an in-memory bus as a worker would."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from event_contracts import (
    GET_BALANCE,
    GET_INVOICE,
    BalanceQuery,
    Invoice,
    InvoiceQuery,
    Order,
    PoisonMessage,
)
from event_contracts.testing import InMemoryBus

from billing_service.entrypoints.consumers import subscribe

from ..fakes import FakeUnitOfWork, again, an_order, fake_billing

pytestmark = pytest.mark.unit


@pytest.fixture
def wired() -> Iterator[tuple[FakeUnitOfWork, InMemoryBus]]:
    billing, uow, facts = fake_billing()
    unsubscribe = subscribe(billing)
    yield uow, facts
    unsubscribe()


def test_order_events_reach_the_ledger_and_facts_go_out(
    wired: tuple[FakeUnitOfWork, InMemoryBus],
) -> None:
    uow, facts = wired
    orders = InMemoryBus(deliver=True, consumer="billing")  # order-service, delivering
    order = an_order(prices=("8.00",))

    orders.publish(Order.submit, order)
    orders.publish(Order.chargeback, again(order))

    assert [event for event, _ in facts.published] == [Invoice.invoiced, Invoice.refunded]
    assert GET_INVOICE.responder is not None and GET_BALANCE.responder is not None
    assert GET_INVOICE.responder(InvoiceQuery(order_id=order.id)).status == "refunded"
    receivable = GET_BALANCE.responder(BalanceQuery(account="receivable"))
    assert (receivable.debits, receivable.credits) == (Decimal("16.00"), Decimal("16.00"))
    assert uow.commits == 2


def test_an_amount_the_ledger_refuses_is_poison(
    wired: tuple[FakeUnitOfWork, InMemoryBus],
) -> None:
    uow, facts = wired
    orders = InMemoryBus(deliver=True, consumer="billing")
    too_much = an_order(prices=("999999999999.9999",))  # x2: beyond 12 integer digits

    with pytest.raises(PoisonMessage, match=f"order {too_much.id}: amount .* is not below"):
        orders.publish(Order.submit, too_much)

    assert uow.all_invoices() == [] and facts.published == []


def test_unsubscribe_removes_every_callback_and_responder() -> None:
    before = (Order.submit.callbacks, Order.chargeback.callbacks, GET_INVOICE.responder)
    billing, _, _ = fake_billing()

    subscribe(billing)()

    assert (Order.submit.callbacks, Order.chargeback.callbacks, GET_INVOICE.responder) == before
