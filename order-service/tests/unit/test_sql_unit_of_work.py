"""The SQLAlchemy unit of work on the service's database (SQLite file, or TEST_DATABASE_URL):
what commits together, and the once-per-event-id dedupe of facts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from event_contracts import Delivery
from sqlalchemy import func, select

from order_service import bootstrap
from order_service.adapters import orm
from order_service.config import Settings
from order_service.domain.errors import OrderNotFound
from order_service.service_layer import commands, handlers

pytestmark = pytest.mark.unit


@pytest.fixture
def services(database_url: str) -> Iterator[bootstrap.Services]:
    services = bootstrap.bootstrap(Settings(database_url=database_url,
                                            broker_urls=("amqp://x:y@127.0.0.1:1/shop",)))
    yield services
    services.engine.dispose()


def rows(services: bootstrap.Services, table: object) -> int:
    with services.engine.connect() as connection:
        return int(connection.execute(
            select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def place(services: bootstrap.Services, customer: str) -> int:
    response = handlers.place_order(commands.PlaceOrder(
        customer_id=customer, currency="EUR", lines=(commands.NewLine(1, 2, Decimal("4.50")),)),
        services.uow())
    return response.order_id


def fact(order_id: int, kind: commands.Fact, event_id: uuid.UUID) -> commands.RecordFact:
    return commands.RecordFact(order_id=order_id, fact=kind, delivery=Delivery(
        event_id=event_id, routing_key=f"billing.v1.{kind.value}", consumer="order"))


def test_the_same_event_id_is_applied_once(services: bootstrap.Services, customer: str) -> None:
    order_id = place(services, customer)
    invoiced = fact(order_id, commands.Fact.INVOICED, uuid.uuid4())

    assert handlers.record_fact(invoiced, services.uow()) is True
    seen = handlers.get_order(order_id, services.uow())
    assert handlers.record_fact(invoiced, services.uow()) is False
    assert handlers.record_fact(invoiced, services.uow()) is False

    assert handlers.get_order(order_id, services.uow()) == seen
    assert seen["status"] == "invoiced"
    assert rows(services, orm.processed_events) == 1


def test_a_failed_fact_records_no_dedupe_key(services: bootstrap.Services) -> None:
    with pytest.raises(OrderNotFound):
        handlers.record_fact(fact(10**12, commands.Fact.INVOICED, uuid.uuid4()), services.uow())
    assert rows(services, orm.processed_events) == 0


def test_an_order_and_its_event_commit_together(services: bootstrap.Services,
                                                customer: str) -> None:
    order_id = place(services, customer)
    handlers.charge_back(commands.ChargeBack(order_id=order_id), services.uow())
    assert (rows(services, orm.orders), rows(services, orm.order_lines),
            rows(services, orm.outbox)) == (1, 1, 2)
