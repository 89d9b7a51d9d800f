"""Billing on the bus: its callbacks on order events and its answers to sync calls.

::

    [order] ── order.*.submit, order.*.chargeback ──▶ billing.order ──▶ invoice_order / refund_order
                                                                         │ publish (confirmed)
    [billing] ◀── billing.v1.invoiced, billing.v1.refunded ◀─────────────┘
    [billing.sync] ── billing.sync.invoice, billing.sync.balance ──▶ billing.sync ──▶ views

Every version of an order event arrives as :class:`~event_contracts.Order` (the runtime
upcasts v1). A callback that raises is retried privately with backoff, then dead-lettered;
a request the ledger refuses (:class:`~billing_service.domain.LedgerError`) is dead-lettered
at once with its reason (``event_contracts.service_defaults.dead_letters.refusing``): retrying
cannot make it valid.
"""

from __future__ import annotations

from collections.abc import Callable

from event_contracts import (
    GET_BALANCE,
    GET_INVOICE,
    BalanceQuery,
    BalanceView,
    InvoiceQuery,
    InvoiceView,
    Order,
    Subscriptions,
)
from event_contracts.service_defaults.dead_letters import refusing

from billing_service.bootstrap import Billing
from billing_service.domain import LedgerError


def subscribe(billing: Billing, registry: Subscriptions) -> Callable[[], None]:
    """Register billing's callbacks and responders on an app's registry (``subscriptions_of(app)``);
    returns a function that removes them."""
    dead_letter_ledger_errors = refusing(LedgerError)
    on_submit = dead_letter_ledger_errors(billing.invoice_order)
    on_chargeback = dead_letter_ledger_errors(billing.refund_order)
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
