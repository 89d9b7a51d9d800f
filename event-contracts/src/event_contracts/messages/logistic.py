"""Logistic's facts about shipments (exchange ``logistic``)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

import attrs

from event_contracts.event import Event


@attrs.frozen(kw_only=True)
class Shipment:
    """A shipment of an order; ``caused_by`` is the event id that led to this fact."""

    event_id: UUID
    shipment_id: str
    order_id: int
    occurred_at: datetime
    caused_by: UUID

    dispatched: ClassVar[Event[Shipment]] = Event(
        "logistic",
        "logistic.v1.shipment_dispatched",
        summary="The shipment left the warehouse (after pick and pack).",
    )
    cancelled: ClassVar[Event[Shipment]] = Event(
        "logistic",
        "logistic.v1.shipment_cancelled",
        summary="The shipment was stopped before dispatch (its order was charged back).",
    )
    returned: ClassVar[Event[Shipment]] = Event(
        "logistic",
        "logistic.v1.shipment_returned",
        summary="A return was opened for a dispatched shipment whose order was charged back.",
    )
