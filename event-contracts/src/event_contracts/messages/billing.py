"""Billing's facts (exchange ``billing``) and its request/response queries (``billing.sync``)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

import attrs

from event_contracts.event import Event
from event_contracts.rpc import RemoteCall
from event_contracts.serialization import CurrencyCode, Money


@attrs.frozen(kw_only=True)
class Invoice:
    """An invoice of an order; ``caused_by`` is the event id of the order event it answers."""

    event_id: UUID
    invoice_id: str
    order_id: int
    customer_id: str
    currency: CurrencyCode
    amount: Money
    occurred_at: datetime
    caused_by: UUID

    invoiced: ClassVar[Event[Invoice]] = Event(
        "billing",
        "billing.v1.invoiced",
        summary="Billing posted an order's invoice to the ledger (debit receivable, credit revenue).",
    )
    refunded: ClassVar[Event[Invoice]] = Event(
        "billing",
        "billing.v1.refunded",
        summary="Billing posted the reversal of a charged-back order's invoice.",
    )


@attrs.frozen(kw_only=True)
class InvoiceQuery:
    order_id: int


@attrs.frozen(kw_only=True)
class InvoiceView:
    """An invoice as billing's ledger has it now (``status``: ``invoiced`` or ``refunded``)."""

    invoice_id: str
    order_id: int
    customer_id: str
    currency: CurrencyCode
    amount: Money
    status: str


@attrs.frozen(kw_only=True)
class BalanceQuery:
    account: str


@attrs.frozen(kw_only=True)
class BalanceView:
    """An account's debits, credits and balance (debits minus credits), per currency."""

    account: str
    currency: CurrencyCode
    debits: Money
    credits: Money
    balance: str


GET_INVOICE: RemoteCall[InvoiceQuery, InvoiceView] = RemoteCall(
    "billing.sync.invoice", InvoiceQuery, InvoiceView, summary="An order's invoice."
)
GET_BALANCE: RemoteCall[BalanceQuery, BalanceView] = RemoteCall(
    "billing.sync.balance", BalanceQuery, BalanceView, summary="A ledger account's balance."
)
