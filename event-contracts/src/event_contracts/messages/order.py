"""Orders, published by order-service on the ``order`` exchange.

v1 is exactly the seed article's shape, ``{"id": 1, "lines": [{"id": 1, "quantity": 2,
"price": 3}]}``, and stays accepted; v2 adds what a real shop needs. Consumers only ever see
:class:`Order` (v2): a v1 message is upcast with the documented defaults below.

Build one message per event: ``event_id`` identifies the event (it is the consumers' dedupe
key), so a chargeback of an order is a new ``Order`` with a new ``event_id``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, NewType
from uuid import UUID, uuid4

import attrs

from event_contracts.event import Envelope, Event, PreviousVersion
from event_contracts.serialization import (
    CurrencyCode,
    LegacyPrice,
    Money,
    Quantity,
    converter,
    length_between,
    structure,
    utc_now,
)

MAX_LINES = 100
LEGACY_V1_CURRENCY = CurrencyCode("EUR")
"""v1 has no currency: its prices are taken as euros."""
LEGACY_V1_CUSTOMER = "unknown"
"""v1 has no customer: upcast orders belong to this customer id."""


CustomerId = NewType("CustomerId", str)


def _customer_id(value: Any, _: Any) -> CustomerId:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    if not 1 <= len(value) <= 64:
        raise ValueError(f"needs 1 to 64 characters, got {len(value)}")
    return CustomerId(value)


converter.register_structure_hook(CustomerId, _customer_id)


@attrs.frozen
class OrderLineV1:
    """A v1 line: the seed's ``OrderLine`` (its float price read exactly, as a Decimal)."""

    id: int
    quantity: int
    price: LegacyPrice


@attrs.frozen
class OrderV1:
    """A v1 order: the seed's ``Order`` (with ``factory=list``, not the seed's ``default=list``)."""

    id: int
    lines: tuple[OrderLineV1, ...] = attrs.field(factory=tuple)


@attrs.frozen(kw_only=True)
class OrderLine:
    """One line of an order: ``quantity`` items at ``unit_price`` each (a Decimal)."""

    id: int
    quantity: Quantity
    unit_price: Money

    @property
    def total(self) -> Money:
        return Money(self.unit_price * self.quantity)


OrderLines = NewType("OrderLines", tuple[OrderLine, ...])


def _order_lines(value: Any, _: Any) -> OrderLines:
    if not isinstance(value, list):
        raise TypeError(f"expected an array of lines, got {type(value).__name__}")
    if not 1 <= len(value) <= MAX_LINES:
        raise ValueError(f"an order needs 1 to {MAX_LINES} lines, got {len(value)}")
    return OrderLines(converter.structure(value, tuple[OrderLine, ...]))


converter.register_structure_hook(OrderLines, _order_lines)


def order_from_v1(legacy: OrderV1, envelope: Envelope) -> Order:
    """Upcast v1 → v2: event id from the message id, EUR, customer ``unknown``, occurred now.

    Lines keep their id and quantity; the price becomes ``unit_price``. What v1 never checked
    (a quantity below 1, no lines at all) fails v2's validation with the field path, so such a
    message is dead-lettered rather than guessed at.
    """
    return structure(
        {
            "event_id": str(envelope.event_id),
            "id": legacy.id,
            "customer_id": LEGACY_V1_CUSTOMER,
            "currency": LEGACY_V1_CURRENCY,
            "lines": [
                {"id": line.id, "quantity": line.quantity, "unit_price": str(line.price)}
                for line in legacy.lines
            ],
            "occurred_at": envelope.occurred_at.isoformat(),
        },
        Order,
    )


@attrs.frozen(kw_only=True)
class Order:
    """An order (schema v2): what was ordered, by whom, in which currency, and when."""

    event_id: UUID
    id: int
    customer_id: CustomerId = attrs.field(validator=length_between(1, 64, "characters"))
    currency: CurrencyCode
    lines: OrderLines = attrs.field(validator=length_between(1, MAX_LINES, "lines"))
    occurred_at: datetime

    @classmethod
    def create(cls, *, id: int, customer_id: str, currency: str, lines: tuple[OrderLine, ...]) -> Order:
        """A new event about an order: a fresh event id, occurred now."""
        return cls(
            event_id=uuid4(),
            id=id,
            customer_id=CustomerId(customer_id),
            currency=CurrencyCode(currency),
            lines=OrderLines(lines),
            occurred_at=utc_now(),
        )

    @property
    def total(self) -> Money:
        return Money(sum((line.total for line in self.lines), start=Decimal(0)))

    submit: ClassVar[Event[Order]] = Event(
        "order",
        "order.v2.submit",
        previous=[PreviousVersion("order.v1.submit", OrderV1, order_from_v1)],
        summary="A customer submitted an order; it is in review until billed and shipped.",
    )
    chargeback: ClassVar[Event[Order]] = Event(
        "order",
        "order.v2.chargeback",
        previous=[PreviousVersion("order.v1.chargeback", OrderV1, order_from_v1)],
        summary="The payment of an order was charged back: refund it, stop or return its goods.",
    )
