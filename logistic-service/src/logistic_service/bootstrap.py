"""Wiring: the handlers with their unit of work, publisher, pipeline and clock.

The worker calls :func:`bootstrap` with the real adapters (see ``entrypoints.celery_app``);
unit tests call ``tests/fakes.py``'s ``bootstrap_test_app()``, the same wiring over fakes
(``FakeUnitOfWork``, ``event_contracts.testing.InMemoryBus``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs
from event_contracts import Delivery, Order

from logistic_service.adapters import orm
from logistic_service.service_layer import handlers
from logistic_service.service_layer.handlers import StepOutcome
from logistic_service.service_layer.ports import (
    AbstractPipeline,
    AbstractUnitOfWork,
    Clock,
    EventPublisher,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class Handlers:
    """The service layer, wired: one method per use case, a fresh unit of work per call."""

    uow: Callable[[], AbstractUnitOfWork]
    publisher: EventPublisher
    pipeline: AbstractPipeline
    clock: Clock = utc_now
    resume_idle_for: timedelta = timedelta(seconds=300)
    resume_batch: int = 100

    def ship_order(self, order: Order, delivery: Delivery) -> None:
        handlers.ship_order(
            order, delivery, uow=self.uow(), pipeline=self.pipeline, clock=self.clock
        )

    def charge_back(self, order: Order, delivery: Delivery) -> None:
        handlers.charge_back(
            order, delivery, uow=self.uow(), publisher=self.publisher, clock=self.clock
        )

    def pick(self, shipment_id: str) -> StepOutcome:
        return handlers.pick(shipment_id, uow=self.uow(), clock=self.clock)

    def pack(self, shipment_id: str) -> StepOutcome:
        return handlers.pack(shipment_id, uow=self.uow(), clock=self.clock)

    def dispatch(self, shipment_id: str, correlation_id: str | None = None) -> StepOutcome:
        return handlers.dispatch(
            shipment_id, correlation_id, uow=self.uow(), publisher=self.publisher, clock=self.clock
        )

    def resume_stuck_shipments(self, sent_at: datetime | None = None) -> list[str]:
        return handlers.resume_stuck_shipments(
            uow=self.uow(),
            pipeline=self.pipeline,
            clock=self.clock,
            idle_for=self.resume_idle_for,
            limit=self.resume_batch,
            sent_at=sent_at,
        )


def bootstrap(
    *,
    uow: Callable[[], AbstractUnitOfWork],
    publisher: EventPublisher,
    pipeline: AbstractPipeline,
    clock: Clock = utc_now,
    resume_idle_for: timedelta = timedelta(seconds=300),
    resume_batch: int = 100,
    start_orm: bool = True,
) -> Handlers:
    if start_orm:
        orm.start_mappers()
    return Handlers(
        uow=uow,
        publisher=publisher,
        pipeline=pipeline,
        clock=clock,
        resume_idle_for=resume_idle_for,
        resume_batch=resume_batch,
    )
