"""What the entrypoints ask the service layer to do (imperatives), one class per use case."""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs
from event_contracts import Delivery

from order_service.domain.identity import Actor


@attrs.frozen
class NewLine:
    line_id: int
    quantity: int
    unit_price: Decimal


@attrs.frozen(kw_only=True)
class PlaceOrder:
    customer_id: str
    currency: str
    lines: tuple[NewLine, ...]
    idempotency_key: str | None = None
    request_hash: str = ""
    """sha256 of the canonical request body: a key replayed with another body is refused."""
    correlation_id: str | None = None
    actor: Actor | None = None
    """Who places it (the token's subject and id): carried by the order's events."""


@attrs.frozen(kw_only=True)
class ChargeBack:
    order_id: int
    correlation_id: str | None = None
    actor: Actor | None = None


class Fact(enum.Enum):
    """A fact another service published about an order, and what it means for the order."""

    INVOICED = "invoiced"
    REFUNDED = "refunded"
    DISPATCHED = "dispatched"
    SHIPMENT_CANCELLED = "shipment_cancelled"
    SHIPMENT_RETURNED = "shipment_returned"


@attrs.frozen(kw_only=True)
class RecordFact:
    order_id: int
    fact: Fact
    delivery: Delivery
