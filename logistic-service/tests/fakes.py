"""Fakes of the ports, and the service layer wired with them (cosmicpython's bootstrap_test_app)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
from event_contracts import InMemoryInbox
from event_contracts.testing import InMemoryBus

from logistic_service import bootstrap
from logistic_service.domain.model import Shipment
from logistic_service.service_layer.ports import (
    AbstractPipeline,
    AbstractShipmentRepository,
    AbstractUnitOfWork,
)


class FakeRepository(AbstractShipmentRepository):
    def __init__(self) -> None:
        self.rows: dict[str, Shipment] = {}

    def add(self, shipment: Shipment) -> None:
        self.rows[shipment.shipment_id] = shipment

    def get(self, shipment_id: str) -> Shipment | None:
        return self.rows.get(shipment_id)

    def stuck(self, idle_since: datetime, limit: int) -> list[Shipment]:
        stuck = [s for s in self.rows.values() if s.is_stuck(idle_since)]
        return sorted(stuck, key=lambda s: s.updated_at)[:limit]


class FakeUnitOfWork(AbstractUnitOfWork):
    shipments: FakeRepository
    inbox: InMemoryInbox

    def __init__(self) -> None:
        self.shipments = FakeRepository()
        self.inbox = InMemoryInbox()
        self.commits = 0

    def commit(self) -> None:
        self.inbox.commit()
        self.commits += 1

    def rollback(self) -> None:
        self.inbox.rollback()


class FakePipeline(AbstractPipeline):
    def __init__(self) -> None:
        self.started: list[tuple[str, str | None]] = []

    def start(self, shipment_id: str, correlation_id: str | None = None) -> None:
        self.started.append((shipment_id, correlation_id))


@attrs.define
class FakeClock:
    now: datetime = datetime(2025, 11, 21, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@attrs.define
class TestApp:
    __test__ = False

    handlers: bootstrap.Handlers
    uow: FakeUnitOfWork
    bus: InMemoryBus
    pipeline: FakePipeline
    clock: FakeClock

    def shipment(self, shipment_id: str) -> Shipment:
        shipment = self.uow.shipments.get(shipment_id)
        assert shipment is not None, f"no {shipment_id}"
        return shipment


def bootstrap_test_app() -> TestApp:
    uow, bus, pipeline, clock = FakeUnitOfWork(), InMemoryBus(), FakePipeline(), FakeClock()
    handlers = bootstrap.bootstrap(
        uow=lambda: uow,
        publisher=bus,
        pipeline=pipeline,
        clock=clock,
        resume_idle_for=timedelta(seconds=60),
        resume_batch=3,
        start_orm=False,
    )
    return TestApp(handlers, uow, bus, pipeline, clock)
