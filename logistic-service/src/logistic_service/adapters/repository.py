"""Shipments in and out of storage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from logistic_service.adapters.orm import shipments
from logistic_service.domain.model import IN_WAREHOUSE, Shipment
from logistic_service.service_layer.ports import AbstractShipmentRepository


class SqlAlchemyShipmentRepository(AbstractShipmentRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, shipment: Shipment) -> None:
        self.session.add(shipment)

    def get(self, shipment_id: str) -> Shipment | None:
        # FOR UPDATE on PostgreSQL: a chargeback and a warehouse step of one shipment queue up
        # instead of racing (the version column would catch the race anyway, with a retry).
        return self.session.execute(
            select(Shipment).where(shipments.c.shipment_id == shipment_id).with_for_update()
        ).scalar_one_or_none()

    def stuck(self, idle_since: datetime, limit: int) -> list[Shipment]:
        # SKIP LOCKED: a shipment a worker is moving right now is not stuck.
        return list(
            self.session.execute(
                select(Shipment)
                .where(
                    shipments.c.status.in_(sorted(IN_WAREHOUSE)),
                    shipments.c.updated_at < idle_since,
                )
                .order_by(shipments.c.updated_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
