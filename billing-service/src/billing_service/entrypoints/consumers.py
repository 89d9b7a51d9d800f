"""Billing on the bus: its callbacks on order events and its answers to sync calls.

::

    [order] ── order.*.submit, order.*.chargeback ──▶ billing.order ──▶ invoice_order / refund_order
                                                                         │ publish (confirmed)
    [billing] ◀── billing.v1.invoiced, billing.v1.refunded ◀─────────────┘
    [billing.sync] ── billing.sync.invoice, billing.sync.balance ──▶ billing.sync ──▶ views

Every version of an order event arrives as :class:`~event_contracts.Order` (the runtime
upcasts v1). A callback that raises is retried privately with backoff, then dead-lettered;
a request the ledger refuses (:class:`~billing_service.domain.LedgerError`) is dead-lettered
at once as :class:`~event_contracts.PoisonMessage`: retrying cannot make it valid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from event_contracts import (
    GET_BALANCE,
    GET_INVOICE,
    BalanceQuery,
    BalanceView,
    Delivery,
    InvoiceQuery,
    InvoiceView,
    Order,
    PoisonMessage,
)

from billing_service.bootstrap import Billing
from billing_service.domain import LedgerError

Handler = Callable[[Order, Delivery], None]


def _refusing_poison(handler: Handler) -> Handler:
    def callback(order: Order, delivery: Delivery) -> None:
        try:
            handler(order, delivery)
        except LedgerError as exc:
            raise PoisonMessage(f"order {order.id}: {exc}") from exc

    callback.__name__ = callback.__qualname__ = handler.__name__
    return callback


def subscribe(billing: Billing) -> Callable[[], None]:
    """Register billing's callbacks and responders; returns a function that removes them."""
    on_submit = _refusing_poison(billing.invoice_order)
    on_chargeback = _refusing_poison(billing.refund_order)
    Order.submit.register_callback(on_submit)
    Order.chargeback.register_callback(on_chargeback)

    def get_invoice(query: InvoiceQuery) -> InvoiceView:
        return billing.invoice(query.order_id)

    def get_balance(query: BalanceQuery) -> BalanceView:
        return billing.balance(query.account)

    previous: tuple[Any, Any] = (GET_INVOICE.responder, GET_BALANCE.responder)
    GET_INVOICE.register_responder(get_invoice)
    GET_BALANCE.register_responder(get_balance)

    def unsubscribe() -> None:
        Order.submit.unregister_callback(on_submit)
        Order.chargeback.unregister_callback(on_chargeback)
        GET_INVOICE.responder, GET_BALANCE.responder = previous

    return unsubscribe
