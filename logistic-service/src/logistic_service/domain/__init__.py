"""The shipment domain: pure Python, no broker, no database."""

from logistic_service.domain.model import (
    FLOW,
    IN_WAREHOUSE,
    IllegalTransition,
    Shipment,
    ShipmentCancelled,
    ShipmentError,
    ShipmentStatus,
    UnknownShipment,
    shipment_id_for,
)

__all__ = [
    "FLOW",
    "IN_WAREHOUSE",
    "IllegalTransition",
    "Shipment",
    "ShipmentCancelled",
    "ShipmentError",
    "ShipmentStatus",
    "UnknownShipment",
    "shipment_id_for",
]
