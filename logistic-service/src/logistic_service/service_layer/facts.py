"""What logistic tells the platform: the ``Shipment`` facts, derived from a shipment's state.

Each fact has a deterministic event id (``uuid5`` of what happened to which order) and takes
every field from the stored shipment, so publishing it again (a step re-run after a crash, a
redelivered chargeback) publishes the very same event, which consumers drop as a duplicate.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from event_contracts import Event
from event_contracts import Shipment as ShipmentFact

from logistic_service.domain.model import Shipment, ShipmentStatus


def fact_id(what: str, order_id: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"logistic:{what}:{order_id}")


def dispatched(shipment: Shipment) -> ShipmentFact:
    if shipment.dispatched_at is None:
        raise ValueError(f"{shipment} was never dispatched")
    return ShipmentFact(
        event_id=fact_id("dispatched", shipment.order_id),
        shipment_id=shipment.shipment_id,
        order_id=shipment.order_id,
        occurred_at=shipment.dispatched_at,
        caused_by=shipment.submit_event_id,
    )


def charged_back(shipment: Shipment) -> tuple[Event[ShipmentFact], ShipmentFact]:
    """``Shipment.cancelled`` or ``Shipment.returned``, for a shipment stopped by a chargeback."""
    if shipment.chargeback_event_id is None:
        raise ValueError(f"{shipment} was not charged back")
    event, what = {
        ShipmentStatus.CANCELLED: (ShipmentFact.cancelled, "cancelled"),
        ShipmentStatus.RETURN_OPENED: (ShipmentFact.returned, "returned"),
    }[shipment.status]
    # Both statuses are final, so updated_at is when it happened, whenever this is re-published.
    return event, ShipmentFact(
        event_id=fact_id(what, shipment.order_id),
        shipment_id=shipment.shipment_id,
        order_id=shipment.order_id,
        occurred_at=shipment.updated_at,
        caused_by=shipment.chargeback_event_id,
    )
