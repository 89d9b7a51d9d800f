"""Fakes of billing's ports for unit tests: an in-memory ledger with real transaction semantics."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from event_contracts import Delivery, InMemoryInbox, Order, OrderLine
from event_contracts.testing import InMemoryBus

from billing_service.bootstrap import Billing, bootstrap
from billing_service.domain import Account, Balance, Invoice
from billing_service.service_layer.ports import AbstractInvoiceRepository, AbstractUnitOfWork

_order_ids = itertools.count(1_000)


class FakeInvoiceRepository(AbstractInvoiceRepository):
    def __init__(self) -> None:
        self.by_order: dict[int, Invoice] = {}

    def add(self, invoice: Invoice) -> None:
        self.by_order[invoice.order_id] = invoice

    def get(self, order_id: int, *, lock: bool = True) -> Invoice | None:
        return self.by_order.get(order_id)

    def balances(self, account: Account) -> list[Balance]:
        totals: dict[str, Balance] = {}
        for invoice in self.by_order.values():
            for entry in invoice.entries:
                for posting in entry.postings:
                    if posting.account != account:
                        continue
                    was = totals.get(entry.currency) or Balance(
                        account, entry.currency, Decimal(0), Decimal(0)
                    )
                    totals[entry.currency] = Balance(
                        account,
                        entry.currency,
                        was.debits + posting.debit,
                        was.credits + posting.credit,
                        was.postings + 1,
                    )
        return sorted(totals.values(), key=lambda b: b.currency)


class FakeUnitOfWork(AbstractUnitOfWork):
    """Leaving the block without ``commit()`` restores the state of the last commit."""

    invoices: FakeInvoiceRepository
    inbox: InMemoryInbox

    def __init__(self) -> None:
        self.invoices = FakeInvoiceRepository()
        self.inbox = InMemoryInbox()
        self.commits = 0
        self._committed = self._state()

    def _state(self) -> dict[int, Invoice]:
        return copy.deepcopy(self.invoices.by_order)

    def commit(self) -> None:
        self.commits += 1
        self.inbox.commit()
        self._committed = self._state()

    def rollback(self) -> None:
        self.inbox.rollback()
        self.invoices.by_order = copy.deepcopy(self._committed)

    def all_invoices(self) -> list[Invoice]:
        return list(self.invoices.by_order.values())


class FixedClock:
    """A clock that ticks one second per reading, from a fixed instant."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def bootstrap_test_app() -> tuple[Billing, FakeUnitOfWork, InMemoryBus]:
    """The use cases over fakes (cosmicpython's ``bootstrap_test_app``), with the fake unit of
    work and the bus they publish to, for the test to inspect."""
    uow, bus = FakeUnitOfWork(), InMemoryBus()
    return bootstrap(uow=lambda: uow, publisher=bus, clock=FixedClock()), uow, bus


def an_order(
    order_id: int | None = None,
    *,
    currency: str = "EUR",
    prices: tuple[str, ...] = ("4.50",),
    customer_id: str = "c-1",
) -> Order:
    """A new order event (fresh event id); unique order id unless given."""
    return Order.create(
        id=next(_order_ids) if order_id is None else order_id,
        customer_id=customer_id,
        currency=currency,
        lines=tuple(
            OrderLine(id=n, quantity=2, unit_price=Decimal(price))  # type: ignore[arg-type]
            for n, price in enumerate(prices, start=1)
        ),
    )


def again(order: Order) -> Order:
    """Another event about the same order (a new event id)."""
    return Order.create(
        id=order.id, customer_id=order.customer_id, currency=order.currency, lines=order.lines
    )


def delivery_of(order: Order, routing_key: str = "order.v2.submit") -> Delivery:
    return Delivery(event_id=order.event_id, routing_key=routing_key, consumer="billing")


def chargeback_delivery(order: Order) -> Delivery:
    return delivery_of(order, "order.v2.chargeback")
