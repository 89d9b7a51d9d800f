"""Property: after ANY sequence of order events, the ledger balances.

Hypothesis draws sequences of submits, chargebacks, redeliveries of earlier events (the same
event id again), second submits of invoiced orders and chargebacks of orders billing never saw,
runs them through the real handlers (fake unit of work, in-memory bus) and checks:

* every journal entry balances on its own, each posting on one side only;
* per currency, the sum of all debits equals the sum of all credits;
* each order has at most one invoice entry and one reversal, and is refunded iff reversed;
* each invoice holds the total of the first submit of its order (business idempotency);
* receivable's balance per currency is what is still owed (invoiced, not refunded);
* a fact id always stands for the same fact, however often it is published.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from event_contracts import Delivery, Order, OrderLine
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_service.domain import Account, EntryKind, InvoiceStatus
from billing_service.service_layer.handlers import UnknownOrderError

from ..fakes import bootstrap_test_app

pytestmark = pytest.mark.unit

ORDER_IDS = st.integers(min_value=1, max_value=6)
CURRENCIES = st.sampled_from(["EUR", "USD", "JPY"])
LINES = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=50),
        st.decimals(min_value=0, max_value=Decimal("9999.9999"), places=4),
    ),
    min_size=1,
    max_size=4,
)

submit = st.tuples(st.just("submit"), ORDER_IDS, CURRENCIES, LINES)
chargeback = st.tuples(st.just("chargeback"), ORDER_IDS)
redeliver = st.tuples(st.just("redeliver"), st.integers(min_value=0, max_value=50))
STEPS = st.lists(st.one_of(submit, chargeback, redeliver), max_size=40)


def order_event(order_id: int, currency: str, lines: list[tuple[int, Decimal]]) -> Order:
    return Order.create(
        id=order_id,
        customer_id=f"c-{order_id}",
        currency=currency,
        lines=tuple(
            OrderLine(id=n, quantity=q, unit_price=p)  # type: ignore[arg-type]
            for n, (q, p) in enumerate(lines, start=1)
        ),
    )


@settings(max_examples=300, deadline=None)
@given(steps=STEPS)
def test_the_ledger_balances_after_any_sequence_of_events(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    billing, uow, bus = bootstrap_test_app()
    delivered: list[tuple[str, Order]] = []
    invoiced_total: dict[int, tuple[str, Decimal]] = {}
    refunded: set[int] = set()

    def run(kind: str, order: Order) -> None:
        delivery = Delivery(
            event_id=order.event_id, routing_key=f"order.v2.{kind}", consumer="billing"
        )
        delivered.append((kind, order))
        if kind == "submit":
            billing.invoice_order(order, delivery)
            invoiced_total.setdefault(order.id, (order.currency, order.total))
            return
        try:
            billing.refund_order(order, delivery)
        except UnknownOrderError:
            assert order.id not in invoiced_total
        else:
            refunded.add(order.id)

    for step in steps:
        if step[0] == "submit":
            run("submit", order_event(step[1], step[2], step[3]))
        elif step[0] == "chargeback":
            run("chargeback", order_event(step[1], "EUR", [(1, Decimal(1))]))
        elif delivered:
            run(*delivered[step[1] % len(delivered)])

    debits: defaultdict[str, Decimal] = defaultdict(Decimal)
    credits: defaultdict[str, Decimal] = defaultdict(Decimal)
    owed: defaultdict[str, Decimal] = defaultdict(Decimal)
    for invoice in uow.all_invoices():
        kinds = [entry.kind for entry in invoice.entries]
        assert sorted(kinds) == sorted(set(kinds))
        assert (EntryKind.REVERSAL in kinds) == (invoice.status == InvoiceStatus.REFUNDED)
        assert (invoice.currency, invoice.amount) == invoiced_total[invoice.order_id]
        assert (invoice.status == InvoiceStatus.REFUNDED) == (invoice.order_id in refunded)
        if invoice.status == InvoiceStatus.INVOICED:
            owed[invoice.currency] += invoice.amount
        for entry in invoice.entries:
            assert entry.currency == invoice.currency
            assert entry.debits == entry.credits
            for posting in entry.postings:
                assert posting.debit == 0 or posting.credit == 0
                debits[entry.currency] += posting.debit
                credits[entry.currency] += posting.credit
    assert debits == credits
    assert set(invoiced_total) == {invoice.order_id for invoice in uow.all_invoices()}

    receivable = {b.currency: b.balance for b in uow.invoices.balances(Account.RECEIVABLE)}
    assert {c: v for c, v in receivable.items() if v} == {c: v for c, v in owed.items() if v}

    facts: defaultdict[object, set[object]] = defaultdict(set)
    for _, fact in bus.published:
        facts[fact.event_id].add(fact)
    assert all(len(versions) == 1 for versions in facts.values())
