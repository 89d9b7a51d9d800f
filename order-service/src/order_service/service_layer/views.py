"""How an order is shown to API clients (also the schema in ``/openapi.json``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import event_contracts
from event_contracts.serialization import CurrencyCode, Money, Quantity

from order_service.domain.model import Order
from order_service.domain.money import normalized
from order_service.service_layer.ports import ParkedRow


def money(amount: Decimal) -> Money:
    return Money(normalized(amount))


def instant(moment: datetime) -> datetime:
    """UTC always (SQLite hands back naive timestamps that were written as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@attrs.frozen(kw_only=True)
class OrderLineView:
    """One line of an order."""

    id: int
    quantity: Quantity
    unit_price: Money


@attrs.frozen(kw_only=True)
class ParkedEventView:
    """An event of this order the broker kept refusing: not published, kept for an operator
    (``order-service-outbox requeue``); the order's later events wait behind it."""

    event_id: str
    routing_key: str
    attempts: int
    last_error: str | None
    parked_at: datetime


@attrs.frozen(kw_only=True)
class OrderView:
    """An order and where it stands (``status`` is derived from the facts below it)."""

    id: int
    customer_id: str
    currency: CurrencyCode
    status: str
    total: Money
    lines: tuple[OrderLineView, ...]
    invoiced: bool
    dispatched: bool
    charged_back: bool
    refunded: bool
    shipment_outcome: str | None
    created_at: datetime
    updated_at: datetime
    parked_events: tuple[ParkedEventView, ...] = ()
    """Normally empty: events of this order the outbox relay could not publish."""


def order_view(order: Order, parked: Sequence[ParkedRow] = ()) -> dict[str, Any]:
    """The JSON body of an order."""
    if order.id is None:
        raise ValueError("an order is shown once it has its id")
    view = OrderView(
        id=order.id,
        customer_id=order.customer_id,
        currency=CurrencyCode(order.currency),
        status=order.status,
        total=money(order.total),
        lines=tuple(
            OrderLineView(
                id=line.line_id, quantity=Quantity(line.quantity), unit_price=money(line.unit_price)
            )
            for line in order.lines
        ),
        invoiced=order.invoiced,
        dispatched=order.dispatched,
        charged_back=order.charged_back,
        refunded=order.refunded,
        shipment_outcome=order.shipment_outcome,
        created_at=instant(order.created_at),
        updated_at=instant(order.updated_at),
        parked_events=tuple(
            ParkedEventView(
                event_id=str(row.event_id),
                routing_key=row.routing_key,
                attempts=row.attempts,
                last_error=row.last_error,
                parked_at=instant(row.parked_at),
            )
            for row in parked
        ),
    )
    return event_contracts.unstructure(view)
