"""Read side: the answers to billing's sync calls (``billing.sync``), straight from the ledger."""

from __future__ import annotations

from event_contracts import BalanceView, InvoiceView, NotFound
from event_contracts.serialization import CurrencyCode, Money

from billing_service.domain import Account, headline_balance
from billing_service.domain.ledger import MONEY_PLACES
from billing_service.service_layer.ports import AbstractUnitOfWork


def invoice(order_id: int, uow: AbstractUnitOfWork) -> InvoiceView:
    """The order's invoice as it is now; ``NotFound`` if billing has not invoiced it."""
    with uow:
        found = uow.invoices.get(order_id, lock=False)
        if found is None:
            raise NotFound(f"no invoice for order {order_id}")
        return InvoiceView(
            invoice_id=found.invoice_id,
            order_id=found.order_id,
            customer_id=found.customer_id,
            currency=CurrencyCode(found.currency),
            amount=Money(found.amount),
            status=str(found.status),
        )


def balance(account: str, uow: AbstractUnitOfWork) -> BalanceView:
    """The account's debits, credits and balance (debits - credits), to four places.

    In the currency it has postings in (with several: the one with the most postings); EUR
    with zeros when it has none. ``NotFound`` for an account not in the chart of accounts.
    """
    try:
        known = Account(account)
    except ValueError:
        raise NotFound(
            f"no account {account!r}; the ledger has {', '.join(a.value for a in Account)}"
        ) from None
    with uow:
        totals = headline_balance(known, uow.invoices.balances(known))
    return BalanceView(
        account=known.value,
        currency=CurrencyCode(totals.currency),
        debits=Money(totals.debits.quantize(MONEY_PLACES)),
        credits=Money(totals.credits.quantize(MONEY_PLACES)),
        balance=str(totals.balance.quantize(MONEY_PLACES)),
    )
