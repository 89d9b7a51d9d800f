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
    Subscriptions,
)
from event_contracts.testing import InMemoryBus

from billing_service.entrypoints.consumers import subscribe

from ..fakes import FakeUnitOfWork, again, an_order, bootstrap_test_app

pytestmark = pytest.mark.unit


Wired = tuple[FakeUnitOfWork, InMemoryBus, Subscriptions]


@pytest.fixture
def wired() -> Iterator[Wired]:
    billing, uow, facts = bootstrap_test_app()
    registry = Subscriptions()  # what create_app makes for billing's app
    unsubscribe = subscribe(billing, registry)
    yield uow, facts, registry
    unsubscribe()


def test_order_events_reach_the_ledger_and_facts_go_out(wired: Wired) -> None:
    uow, facts, registry = wired
    # order-service, delivering to billing's worker
    orders = InMemoryBus(deliver=True, consumer="billing", subscriptions=registry)
    order = an_order(prices=("8.00",))

    orders.publish(Order.submit, order)
    orders.publish(Order.chargeback, again(order))

    assert [event for event, _ in facts.published] == [Invoice.invoiced, Invoice.refunded]
    get_invoice, get_balance = registry.responder(GET_INVOICE), registry.responder(GET_BALANCE)
    assert get_invoice is not None and get_balance is not None
    assert get_invoice(InvoiceQuery(order_id=order.id)).status == "refunded"
    receivable = get_balance(BalanceQuery(account="receivable"))
    assert (receivable.debits, receivable.credits) == (Decimal("16.00"), Decimal("16.00"))
    assert uow.commits == 2


def test_an_amount_the_ledger_refuses_is_poison(wired: Wired) -> None:
    uow, facts, registry = wired
    orders = InMemoryBus(deliver=True, consumer="billing", subscriptions=registry)
    too_much = an_order(prices=("999999999999.9999",))  # x2: beyond 12 integer digits

    with pytest.raises(PoisonMessage, match=f"order {too_much.id}: amount .* is not below"):
        orders.publish(Order.submit, too_much)

    assert uow.all_invoices() == [] and facts.published == []


def test_unsubscribe_removes_every_callback_and_responder() -> None:
    registry = Subscriptions()
    shared = (Order.submit.callbacks, Order.chargeback.callbacks, GET_INVOICE.responder)
    before = (registry.callbacks(Order.submit), registry.callbacks(Order.chargeback))
    before_responders = (registry.responder(GET_INVOICE), registry.responder(GET_BALANCE))
    billing, _, _ = bootstrap_test_app()

    unsubscribe = subscribe(billing, registry)
    assert registry.callbacks(Order.submit) != before[0]
    unsubscribe()

    assert (registry.callbacks(Order.submit), registry.callbacks(Order.chargeback)) == before
    assert (registry.responder(GET_INVOICE), registry.responder(GET_BALANCE)) == before_responders
    assert (Order.submit.callbacks, Order.chargeback.callbacks, GET_INVOICE.responder) == shared
