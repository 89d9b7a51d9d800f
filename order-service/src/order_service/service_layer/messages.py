"""Domain events → the platform's contract messages (``event_contracts.Order``), for the outbox."""

from __future__ import annotations

from typing import Any

import event_contracts
from event_contracts import Event, OrderLine
from event_contracts.serialization import Money, Quantity

from order_service.domain import events
from order_service.domain.model import Order


def contract_message(
    event: events.Event, order: Order
) -> tuple[Event[event_contracts.Order], event_contracts.Order]:
    """The contract event and a NEW message for it: a fresh event id, the order's data."""
    if order.id is None:
        raise ValueError("an order gets its id from the database before its events are written")
    message = event_contracts.Order.create(
        id=order.id,
        customer_id=order.customer_id,
        currency=order.currency,
        lines=tuple(
            OrderLine(
                id=line.line_id, quantity=Quantity(line.quantity), unit_price=Money(line.unit_price)
            )
            for line in order.lines
        ),
    )
    descriptor: Any
    match event:
        case events.Submitted():
            descriptor = event_contracts.Order.submit
        case events.ChargedBack():
            descriptor = event_contracts.Order.chargeback
    return descriptor, message
