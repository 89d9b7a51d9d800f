"""The service's own database: migrations, the mapping, the repository's queries and locks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from logistic_service.adapters import orm
from logistic_service.adapters.database import create_engine, head_revision
from logistic_service.adapters.repository import SqlAlchemyShipmentRepository
from logistic_service.adapters.unit_of_work import SqlAlchemyUnitOfWork, session_factory
from logistic_service.domain.model import Shipment, ShipmentStatus

from .conftest import migrate, unique_order_id

pytestmark = pytest.mark.integration

T0 = datetime(2025, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    orm.start_mappers()
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def head() -> str | None:
    return head_revision()


def add(engine: Engine, *shipments: Shipment) -> None:
    with SqlAlchemyUnitOfWork(session_factory(engine)) as uow:
        for shipment in shipments:
            uow.shipments.add(shipment)
        uow.commit()


def test_migrations_build_exactly_the_mapped_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), orm.metadata) == []
        assert MigrationContext.configure(connection).get_current_revision() == head() is not None


def test_migrating_again_changes_nothing(engine: Engine, database_url: str) -> None:
    order_id = unique_order_id()
    add(engine, Shipment.for_order(order_id, submitted_by=uuid.uuid4(), now=T0))
    migrate(database_url)
    with SqlAlchemyUnitOfWork(session_factory(engine)) as uow:
        assert uow.shipments.get(f"SHP-{order_id}") is not None


def test_a_shipment_round_trips_exactly(engine: Engine) -> None:
    order_id, submit, chargeback = unique_order_id(), uuid.uuid4(), uuid.uuid4()
    shipment = Shipment.for_order(order_id, submitted_by=submit, now=T0)
    for step in (Shipment.pick, Shipment.pack, Shipment.dispatch):
        step(shipment, T0 + timedelta(seconds=1))
    shipment.charge_back(chargeback, T0 + timedelta(seconds=2))
    add(engine, shipment)

    with SqlAlchemyUnitOfWork(session_factory(engine)) as uow:  # leaving it rolls back: read inside
        loaded = uow.shipments.get(f"SHP-{order_id}")
        assert loaded is not None
        assert (loaded.order_id, loaded.status, loaded.submit_event_id) == (
            order_id,
            ShipmentStatus.RETURN_OPENED,
            submit,
        )
        assert loaded.chargeback_event_id == chargeback
        assert loaded.dispatched_at == T0 + timedelta(seconds=1)
        assert loaded.updated_at == T0 + timedelta(seconds=2) and loaded.updated_at.tzinfo == UTC
    with engine.connect() as connection:  # what the e2e suite reads
        row = connection.execute(
            text("SELECT shipment_id, order_id, status FROM shipments WHERE order_id = :id"),
            {"id": order_id},
        ).one()
    assert tuple(row) == (f"SHP-{order_id}", order_id, "return_opened")


def test_stuck_takes_idle_warehouse_shipments_oldest_first(engine: Engine) -> None:
    now = datetime.now(UTC)
    idle = now - timedelta(hours=1)

    def shipment(minutes_idle: float, steps: int = 0) -> Shipment:
        made = Shipment.for_order(unique_order_id(), submitted_by=uuid.uuid4(), now=idle)
        for step in (Shipment.pick, Shipment.pack, Shipment.dispatch)[:steps]:
            step(made, idle)
        made.updated_at = now - timedelta(minutes=minutes_idle)
        return made

    older, old, packed = shipment(50), shipment(40, steps=1), shipment(30, steps=2)
    fresh, dispatched = shipment(0.5), shipment(50, steps=3)
    add(engine, older, old, packed, fresh, dispatched)

    with Session(engine) as session:
        repository = SqlAlchemyShipmentRepository(session)
        found = repository.stuck(now - timedelta(minutes=1), limit=1000)
        ids = [s.shipment_id for s in found]
        assert [s.shipment_id for s in (older, old, packed)] == [
            i for i in ids if i in {older.shipment_id, old.shipment_id, packed.shipment_id}
        ]
        assert fresh.shipment_id not in ids and dispatched.shipment_id not in ids
        first = repository.stuck(now - timedelta(minutes=1), limit=1)
        assert len(first) == 1 and first[0].updated_at <= older.updated_at


def test_a_concurrent_change_of_the_same_shipment_fails_instead_of_being_lost(
    engine: Engine, database_url: str
) -> None:
    shipment = Shipment.for_order(unique_order_id(), submitted_by=uuid.uuid4(), now=T0)
    add(engine, shipment)
    # Two interleaved transactions: the service's SQLite engine serializes them (BEGIN
    # IMMEDIATE: the second waits for the first), so on SQLite the race needs a plain engine.
    racing = sqlalchemy.create_engine(database_url) if engine.dialect.name == "sqlite" else engine
    with Session(racing) as one, Session(racing) as two:
        mine = one.get(Shipment, shipment.shipment_id)
        theirs = two.get(Shipment, shipment.shipment_id)
        assert mine is not None and theirs is not None
        mine.pick(T0)
        one.commit()
        theirs.charge_back(uuid.uuid4(), T0)
        with pytest.raises(StaleDataError):
            two.commit()
    with SqlAlchemyUnitOfWork(session_factory(engine)) as uow:
        stored = uow.shipments.get(shipment.shipment_id)
        assert stored is not None and stored.status is ShipmentStatus.PICKED
    if racing is not engine:
        racing.dispose()
