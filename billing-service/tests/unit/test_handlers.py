"""Billing's use cases with a fake unit of work and an in-memory bus: what is posted, what is
published, and that nothing is posted twice."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest
from event_contracts import Invoice, NotFound
from event_contracts.serialization import CurrencyCode, Money

from billing_service.domain import EntryKind, InvoiceStatus, fact_id
from billing_service.service_layer.handlers import UnknownOrderError

from ..fakes import again, an_order, bootstrap_test_app, chargeback_delivery, delivery_of

pytestmark = pytest.mark.unit


def test_submit_posts_the_invoice_and_publishes_invoiced() -> None:
    billing, uow, bus = bootstrap_test_app()
    order = an_order(prices=("4.50", "1.25"), currency="USD", customer_id="c-9")

    billing.invoice_order(order, delivery_of(order))

    (invoice,) = uow.all_invoices()
    assert (invoice.invoice_id, invoice.amount, invoice.currency, invoice.status) == (
        f"INV-{order.id}",
        Decimal("11.50"),
        "USD",
        InvoiceStatus.INVOICED,
    )
    ((event, fact),) = bus.published
    assert event is Invoice.invoiced
    assert fact == Invoice(
        event_id=fact_id(EntryKind.INVOICE, order.id),
        invoice_id=f"INV-{order.id}",
        order_id=order.id,
        customer_id="c-9",
        currency=CurrencyCode("USD"),
        amount=Money(Decimal("11.50")),
        occurred_at=invoice.created_at,
        caused_by=order.event_id,
    )


def test_the_same_delivery_twice_posts_once_and_republishes_the_same_fact() -> None:
    billing, uow, bus = bootstrap_test_app()
    order = an_order()

    billing.invoice_order(order, delivery_of(order))
    billing.invoice_order(order, delivery_of(order))

    (invoice,) = uow.all_invoices()
    assert len(invoice.entries) == 1
    first, second = bus.of(Invoice.invoiced)
    assert first == second


def test_a_second_submit_of_an_invoiced_order_posts_nothing_and_republishes_the_fact() -> None:
    billing, uow, bus = bootstrap_test_app()
    order = an_order(prices=("10.00",))
    resubmitted = again(order)
    changed = an_order(order.id, prices=("99.00",))  # the same order id, other contents

    billing.invoice_order(order, delivery_of(order))
    billing.invoice_order(resubmitted, delivery_of(resubmitted))
    billing.invoice_order(changed, delivery_of(changed))

    (invoice,) = uow.all_invoices()
    assert len(invoice.entries) == 1 and invoice.amount == Decimal("20.00")
    facts = bus.of(Invoice.invoiced)
    assert len(facts) == 3 and len(set(facts)) == 1
    assert facts[0].caused_by == order.event_id  # the event that was invoiced


def test_chargeback_posts_the_reversal_and_publishes_refunded() -> None:
    billing, uow, bus = bootstrap_test_app()
    order = an_order(prices=("3.00",))
    chargeback = again(order)

    billing.invoice_order(order, delivery_of(order))
    who = {"actor-subject": "agent-7", "actor-token-id": "jti-42"}
    billing.refund_order(chargeback, attrs.evolve(chargeback_delivery(chargeback), headers=who))

    (invoice,) = uow.all_invoices()
    assert invoice.status == InvoiceStatus.REFUNDED
    reversal = invoice.entry(EntryKind.REVERSAL)
    assert (reversal.actor_subject, reversal.actor_token_id) == ("agent-7", "jti-42")
    assert invoice.entry(EntryKind.INVOICE).actor_subject is None
    assert [e.kind for e in invoice.entries] == [EntryKind.INVOICE, EntryKind.REVERSAL]
    assert [event for event, _ in bus.published] == [Invoice.invoiced, Invoice.refunded]
    (fact,) = bus.of(Invoice.refunded)
    assert fact.event_id == fact_id(EntryKind.REVERSAL, order.id)
    assert (fact.amount, fact.caused_by, fact.occurred_at) == (
        Decimal("6.00"),
        chargeback.event_id,
        reversal.created_at,
    )


def test_a_second_chargeback_posts_nothing_and_republishes_the_same_fact() -> None:
    billing, uow, bus = bootstrap_test_app()
    order = an_order()
    first, second = again(order), again(order)

    billing.invoice_order(order, delivery_of(order))
    billing.refund_order(first, chargeback_delivery(first))
    billing.refund_order(second, chargeback_delivery(second))
    billing.refund_order(second, chargeback_delivery(second))

    (invoice,) = uow.all_invoices()
    assert len(invoice.entries) == 2
    facts = bus.of(Invoice.refunded)
    assert len(facts) == 3 and len(set(facts)) == 1 and facts[0].caused_by == first.event_id


def test_chargeback_of_an_unknown_order_fails_and_changes_nothing() -> None:
    billing, uow, bus = bootstrap_test_app()
    order = an_order()

    with pytest.raises(UnknownOrderError, match=f"order {order.id}"):
        billing.refund_order(order, chargeback_delivery(order))

    assert uow.all_invoices() == [] and uow.inbox.keys == set()
    assert bus.published == []


def test_a_chargeback_retried_after_its_submit_arrived_is_posted() -> None:
    billing, uow, bus = bootstrap_test_app()
    order = an_order()
    chargeback = again(order)

    with pytest.raises(UnknownOrderError):
        billing.refund_order(chargeback, chargeback_delivery(chargeback))
    billing.invoice_order(order, delivery_of(order))
    billing.refund_order(chargeback, chargeback_delivery(chargeback))  # the private retry

    assert [e for e, _ in bus.published] == [Invoice.invoiced, Invoice.refunded]
    assert uow.all_invoices()[0].status == InvoiceStatus.REFUNDED


def test_deliveries_are_recorded_with_the_effects() -> None:
    billing, uow, _ = bootstrap_test_app()
    order = an_order()

    billing.invoice_order(order, delivery_of(order))

    assert uow.inbox.keys == {f"billing:{order.event_id}"}
    assert uow.commits == 1


def test_a_redelivery_is_not_let_through_to_the_ledger_but_its_fact_goes_out_again() -> None:
    billing, uow, bus = bootstrap_test_app()
    order = an_order()

    billing.invoice_order(order, delivery_of(order))
    billing.invoice_order(order, delivery_of(order))  # the same delivery again

    assert uow.inbox.admissions == {f"billing:{order.event_id}": 1}
    assert uow.commits == 1  # the redelivery committed nothing
    first, second = bus.of(Invoice.invoiced)
    assert first == second


def test_invoice_view_shows_the_invoice_as_it_is_now() -> None:
    billing, _, _ = bootstrap_test_app()
    order = an_order(prices=("2.50",), currency="GBP")
    billing.invoice_order(order, delivery_of(order))
    chargeback = again(order)

    before = billing.invoice(order.id)
    billing.refund_order(chargeback, chargeback_delivery(chargeback))
    after = billing.invoice(order.id)

    assert (before.invoice_id, before.amount, before.currency, before.status) == (
        f"INV-{order.id}",
        Decimal("5.00"),
        "GBP",
        "invoiced",
    )
    assert after.status == "refunded"
    with pytest.raises(NotFound, match="no invoice for order 1"):
        billing.invoice(1)


def test_balance_view_per_account() -> None:
    billing, _, _ = bootstrap_test_app()
    kept, refunded = an_order(prices=("5.00",)), an_order(prices=("1.00",))
    for order in (kept, refunded):
        billing.invoice_order(order, delivery_of(order))
    chargeback = again(refunded)
    billing.refund_order(chargeback, chargeback_delivery(chargeback))

    receivable, revenue = billing.balance("receivable"), billing.balance("revenue")

    assert (receivable.currency, receivable.debits, receivable.credits, receivable.balance) == (
        "EUR",
        Decimal("12.00"),
        Decimal("2.00"),
        "10.0000",
    )
    assert (revenue.debits, revenue.credits, revenue.balance) == (
        Decimal("2.00"),
        Decimal("12.00"),
        "-10.0000",
    )


def test_balance_of_an_empty_ledger_is_zero_in_eur_and_unknown_accounts_are_not_found() -> None:
    billing, _, _ = bootstrap_test_app()

    empty = billing.balance("revenue")

    assert (empty.currency, empty.debits, empty.credits, empty.balance) == (
        "EUR",
        Decimal(0),
        Decimal(0),
        "0.0000",
    )
    with pytest.raises(NotFound, match="no account 'cash'"):
        billing.balance("cash")
