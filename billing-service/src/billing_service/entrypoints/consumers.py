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
    Subscriptions,
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


def subscribe(billing: Billing, registry: Subscriptions) -> Callable[[], None]:
    """Register billing's callbacks and responders on an app's registry (``subscriptions_of(app)``);
    returns a function that removes them."""
    on_submit = _refusing_poison(billing.invoice_order)
    on_chargeback = _refusing_poison(billing.refund_order)
    registry.register(Order.submit, on_submit)
    registry.register(Order.chargeback, on_chargeback)

    def get_invoice(query: InvoiceQuery) -> InvoiceView:
        return billing.invoice(query.order_id)

    def get_balance(query: BalanceQuery) -> BalanceView:
        return billing.balance(query.account)

    registry.register_responder(GET_INVOICE, get_invoice)
    registry.register_responder(GET_BALANCE, get_balance)

    def unsubscribe() -> None:
        registry.unregister(Order.submit, on_submit)
        registry.unregister(Order.chargeback, on_chargeback)
        registry.unregister_responder(GET_INVOICE)
        registry.unregister_responder(GET_BALANCE)

    return unsubscribe
