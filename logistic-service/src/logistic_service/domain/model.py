"""The shipment of an order: the one aggregate logistic owns.

Its life, one status at a time::

    created ──pick──▶ picked ──pack──▶ packed ──dispatch──▶ dispatched ─charge_back─▶ return_opened
       │                │                │
       └─ charge_back ──┴────────────────┴──▶ cancelled

Warehouse steps are idempotent: asking a shipment for a step it has already passed changes
nothing (a redelivered or resumed step), asking for a step out of order raises
:class:`IllegalTransition`, and a cancelled shipment refuses every step with
:class:`ShipmentCancelled`. A charge-back is applied once; a repeated one changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID


class ShipmentStatus(StrEnum):
    CREATED = "created"
    PICKED = "picked"
    PACKED = "packed"
    DISPATCHED = "dispatched"
    CANCELLED = "cancelled"
    RETURN_OPENED = "return_opened"


FLOW = (
    ShipmentStatus.CREATED,
    ShipmentStatus.PICKED,
    ShipmentStatus.PACKED,
    ShipmentStatus.DISPATCHED,
    ShipmentStatus.RETURN_OPENED,
)
"""The main line, in order; ``cancelled`` is the side exit before dispatch."""

IN_WAREHOUSE = frozenset({ShipmentStatus.CREATED, ShipmentStatus.PICKED, ShipmentStatus.PACKED})
"""Statuses with warehouse work left: the ones a crashed chain can leave behind."""


class ShipmentError(Exception):
    """A rule of the shipment domain was broken."""


class UnknownShipment(ShipmentError, LookupError):  # noqa: N818 - a domain fact, not "an error"
    def __init__(self, shipment_id: str) -> None:
        self.shipment_id = shipment_id
        super().__init__(f"no shipment {shipment_id}")


class IllegalTransition(ShipmentError):  # noqa: N818 - the domain's word
    def __init__(self, shipment_id: str, status: ShipmentStatus, wanted: ShipmentStatus) -> None:
        self.shipment_id, self.status, self.wanted = shipment_id, status, wanted
        super().__init__(f"shipment {shipment_id} is {status}: it cannot become {wanted}")


class ShipmentCancelled(IllegalTransition):
    """The order was charged back before dispatch: no warehouse step applies any more."""


def shipment_id_for(order_id: int) -> str:
    """One shipment per order, named after it: the business idempotency key."""
    return f"SHP-{order_id}"


class Shipment:
    """A shipment; create it with :meth:`for_order`."""

    def __init__(
        self,
        *,
        shipment_id: str,
        order_id: int,
        status: ShipmentStatus,
        submit_event_id: UUID,
        created_at: datetime,
        updated_at: datetime,
        chargeback_event_id: UUID | None = None,
        dispatched_at: datetime | None = None,
    ) -> None:
        self.shipment_id = shipment_id
        self.order_id = order_id
        self.status = status
        self.submit_event_id = submit_event_id
        """The order event that asked for this shipment (what its dispatch was caused by)."""
        self.chargeback_event_id = chargeback_event_id
        """The order event that stopped it (what its cancellation or return was caused by)."""
        self.dispatched_at = dispatched_at
        self.created_at = created_at
        self.updated_at = updated_at

    @classmethod
    def for_order(cls, order_id: int, *, submitted_by: UUID, now: datetime) -> Shipment:
        return cls(
            shipment_id=shipment_id_for(order_id),
            order_id=order_id,
            status=ShipmentStatus.CREATED,
            submit_event_id=submitted_by,
            created_at=now,
            updated_at=now,
        )

    # --- warehouse steps: True when the step happened now, False when it had happened before

    def pick(self, now: datetime) -> bool:
        return self._advance(ShipmentStatus.PICKED, now)

    def pack(self, now: datetime) -> bool:
        return self._advance(ShipmentStatus.PACKED, now)

    def dispatch(self, now: datetime) -> bool:
        advanced = self._advance(ShipmentStatus.DISPATCHED, now)
        if advanced:
            self.dispatched_at = now
        return advanced

    def _advance(self, wanted: ShipmentStatus, now: datetime) -> bool:
        if self.status is ShipmentStatus.CANCELLED:
            raise ShipmentCancelled(self.shipment_id, self.status, wanted)
        here, there = FLOW.index(self.status), FLOW.index(wanted)
        if here >= there:
            return False
        if there != here + 1:
            raise IllegalTransition(self.shipment_id, self.status, wanted)
        self.status, self.updated_at = wanted, now
        return True

    # --- the order was charged back

    def charge_back(self, event_id: UUID, now: datetime) -> bool:
        """Cancel before dispatch, open a return after; False if already stopped or returned."""
        if self.status in (ShipmentStatus.CANCELLED, ShipmentStatus.RETURN_OPENED):
            return False
        self.status = (
            ShipmentStatus.RETURN_OPENED
            if self.status is ShipmentStatus.DISPATCHED
            else ShipmentStatus.CANCELLED
        )
        self.chargeback_event_id, self.updated_at = event_id, now
        return True

    # --- the resume job

    def is_stuck(self, idle_since: datetime) -> bool:
        """Warehouse work left and nothing happened since ``idle_since``: its chain was lost."""
        return self.status in IN_WAREHOUSE and self.updated_at < idle_since

    def resume(self, now: datetime) -> None:
        """Its chain is started again now; not stuck again before another idle period."""
        if self.status not in IN_WAREHOUSE:
            raise ShipmentError(f"shipment {self.shipment_id} is {self.status}: nothing to resume")
        self.updated_at = now

    @property
    def was_dispatched(self) -> bool:
        return self.dispatched_at is not None

    def __repr__(self) -> str:
        return f"<Shipment {self.shipment_id} {self.status}>"
