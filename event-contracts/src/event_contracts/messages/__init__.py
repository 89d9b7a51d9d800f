"""Every message of the platform, one module per producing service."""

from event_contracts.messages.billing import (
    GET_BALANCE,
    GET_INVOICE,
    BalanceQuery,
    BalanceView,
    Invoice,
    InvoiceQuery,
    InvoiceView,
)
from event_contracts.messages.logistic import Shipment
from event_contracts.messages.order import (
    LEGACY_V1_CURRENCY,
    LEGACY_V1_CUSTOMER,
    MAX_LINES,
    Order,
    OrderLine,
    OrderLineV1,
    OrderV1,
)

__all__ = [
    "GET_BALANCE",
    "GET_INVOICE",
    "LEGACY_V1_CURRENCY",
    "LEGACY_V1_CUSTOMER",
    "MAX_LINES",
    "BalanceQuery",
    "BalanceView",
    "Invoice",
    "InvoiceQuery",
    "InvoiceView",
    "Order",
    "OrderLine",
    "OrderLineV1",
    "OrderV1",
    "Shipment",
]
