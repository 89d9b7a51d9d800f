"""The use cases. Each opens the unit of work, loads the shipment, calls the domain, commits,
and only then talks to the broker (a fact, or the pipeline): nothing is announced that the
database did not keep. What happens if the process dies in between is said at each handler.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from event_contracts import Delivery, Order
from event_contracts import Shipment as ShipmentFact

from logistic_service.domain.model import (
    Shipment,
    ShipmentCancelled,
    ShipmentStatus,
    UnknownShipment,
    shipment_id_for,
)
from logistic_service.service_layer import facts
from logistic_service.service_layer.ports import (
    AbstractPipeline,
    AbstractUnitOfWork,
    Clock,
    EventPublisher,
)

log = logging.getLogger(__name__)


class StepOutcome(enum.Enum):
    DONE = "done"
    """The step happened now or had happened before: go on with the next one."""
    STOPPED = "stopped"
    """The shipment was cancelled: stop the chain (nothing failed)."""


def ship_order(
    order: Order,
    delivery: Delivery,
    *,
    uow: AbstractUnitOfWork,
    pipeline: AbstractPipeline,
    clock: Clock,
) -> None:
    """Order submitted: create its shipment (once per order) and start the warehouse chain.

    The inbox admits each event once: only then is a shipment created. A repeat of the same
    event (a redelivery, perhaps after the chain could not be published) starts the chain again
    while nothing has moved; a second submit event for the order creates and starts nothing.
    A lost chain is picked up by :func:`resume_stuck_shipments`.
    """
    with uow:
        admitted = uow.inbox.admit(delivery)
        shipment = uow.shipments.get(shipment_id_for(order.id))
        created = admitted and shipment is None
        if created:
            shipment = Shipment.for_order(order.id, submitted_by=order.event_id, now=clock())
            uow.shipments.add(shipment)
        uow.commit()
    if shipment is None:  # pragma: no cover - admitted before means created before
        return
    if created or (not admitted and shipment.status is ShipmentStatus.CREATED):
        pipeline.start(shipment.shipment_id, delivery.correlation_id)


def pick(shipment_id: str, *, uow: AbstractUnitOfWork, clock: Clock) -> StepOutcome:
    return _step(shipment_id, Shipment.pick, uow=uow, clock=clock)


def pack(shipment_id: str, *, uow: AbstractUnitOfWork, clock: Clock) -> StepOutcome:
    return _step(shipment_id, Shipment.pack, uow=uow, clock=clock)


def _step(
    shipment_id: str,
    step: Callable[[Shipment, datetime], bool],
    *,
    uow: AbstractUnitOfWork,
    clock: Clock,
) -> StepOutcome:
    with uow:
        shipment = _load(uow, shipment_id)
        try:
            step(shipment, clock())
        except ShipmentCancelled:
            log.info("%s is cancelled: stopping its chain before %s", shipment_id, step.__name__)
            return StepOutcome.STOPPED
        uow.commit()
    return StepOutcome.DONE


def dispatch(
    shipment_id: str,
    correlation_id: str | None = None,
    *,
    uow: AbstractUnitOfWork,
    publisher: EventPublisher,
    clock: Clock,
) -> StepOutcome:
    """Dispatch and publish ``Shipment.dispatched``; a re-run publishes the same fact again."""
    with uow:
        shipment = _load(uow, shipment_id)
        try:
            shipment.dispatch(clock())
        except ShipmentCancelled:
            log.info("%s is cancelled: not dispatching it", shipment_id)
            return StepOutcome.STOPPED
        uow.commit()
    publisher.publish(
        ShipmentFact.dispatched, facts.dispatched(shipment), correlation_id=correlation_id
    )
    return StepOutcome.DONE


def charge_back(
    order: Order,
    delivery: Delivery,
    *,
    uow: AbstractUnitOfWork,
    publisher: EventPublisher,
    clock: Clock,
) -> None:
    """Order charged back: cancel before dispatch, open a return after; publish which.

    Unknown shipment: raises (the submit may still be on its way; the runtime retries, then
    dead-letters). A repeated delivery changes nothing but publishes the same fact again, in
    case the first attempt died between commit and publish.
    """
    with uow:
        shipment = _load(uow, shipment_id_for(order.id))
        if uow.inbox.admit(delivery):
            shipment.charge_back(order.event_id, clock())
        uow.commit()
    event, fact = facts.charged_back(shipment)
    publisher.publish(event, fact, correlation_id=delivery.correlation_id)


def resume_stuck_shipments(
    *,
    uow: AbstractUnitOfWork,
    pipeline: AbstractPipeline,
    clock: Clock,
    idle_for: timedelta,
    limit: int,
    sent_at: datetime | None = None,
) -> list[str]:
    """Start the chain again for shipments idle in the warehouse for ``idle_for`` before the job
    was sent (``sent_at``; now if unknown). Returns their ids.

    Idle is measured up to the job's sending, not its running: the job waits in
    logistic.internal behind every chain step published before it, so when it runs, each of
    those steps has been delivered. A shipment idle since before ``sent_at - idle_for`` has
    had its next step delivered, and it did not move: its chain was lost. One whose step is
    merely queued behind a backlog (behind the job too) is never resumed, however long the
    job waited. Each resumed shipment counts as active from now on, so it is resumed again
    only after another ``idle_for``.
    """
    with uow:
        now = clock()
        measured_until = now if sent_at is None else min(now, sent_at)
        stuck = uow.shipments.stuck(measured_until - idle_for, limit)
        for shipment in stuck:
            log.warning(
                "resuming %s: %s since %s",
                shipment.shipment_id,
                shipment.status,
                shipment.updated_at.isoformat(),
            )
            shipment.resume(now)
        uow.commit()
    for shipment in stuck:
        pipeline.start(shipment.shipment_id)
    return [shipment.shipment_id for shipment in stuck]


def _load(uow: AbstractUnitOfWork, shipment_id: str) -> Shipment:
    shipment = uow.shipments.get(shipment_id)
    if shipment is None:
        raise UnknownShipment(shipment_id)
    return shipment
