"""The SQLAlchemy unit of work on the service's database (SQLite file, or TEST_DATABASE_URL):
what commits together, and the once-per-event-id dedupe of facts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from event_contracts import Delivery
from event_contracts.messages.order import MAX_LINES
from prometheus_client.registry import REGISTRY
from sqlalchemy import event, func, select

from order_service import bootstrap
from order_service.adapters import orm
from order_service.adapters.order_ids import SequenceBlocks
from order_service.domain.errors import OrderNotFound
from order_service.service_layer import commands, handlers
from order_service.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def services(database_url: str) -> Iterator[bootstrap.Services]:
    services = bootstrap.bootstrap(
        Settings(database_url=database_url, broker_urls=("amqp://x:y@127.0.0.1:1/shop",))
    )
    yield services
    services.engine.dispose()


def rows(services: bootstrap.Services, table: object) -> int:
    with services.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def place(
    services: bootstrap.Services,
    customer: str,
    lines: tuple[commands.NewLine, ...] = (commands.NewLine(1, 2, Decimal("4.50")),),
) -> int:
    response = handlers.place_order(
        commands.PlaceOrder(customer_id=customer, currency="EUR", lines=lines), services.uow()
    )
    return response.order_id


def fact(order_id: int, kind: commands.Fact, event_id: uuid.UUID) -> commands.RecordFact:
    return commands.RecordFact(
        order_id=order_id,
        fact=kind,
        delivery=Delivery(
            event_id=event_id, routing_key=f"billing.v1.{kind.value}", consumer="order"
        ),
    )


def test_the_same_event_id_is_applied_once(services: bootstrap.Services, customer: str) -> None:
    order_id = place(services, customer)
    invoiced = fact(order_id, commands.Fact.INVOICED, uuid.uuid4())

    assert handlers.record_fact(invoiced, services.uow()) is True
    seen = handlers.get_order(order_id, services.uow())
    assert handlers.record_fact(invoiced, services.uow()) is False
    assert handlers.record_fact(invoiced, services.uow()) is False

    assert handlers.get_order(order_id, services.uow()) == seen
    assert seen["status"] == "invoiced"
    assert rows(services, orm.inbox.processed) == 1


def test_the_first_dispatch_is_timed_from_the_stored_creation_time(
    services: bootstrap.Services, customer: str
) -> None:
    order_id = place(services, customer)
    count = REGISTRY.get_sample_value("shop_order_placed_to_dispatched_seconds_count") or 0.0
    for _ in range(2):  # two dispatched facts (two event ids) about the same order
        dispatched = fact(order_id, commands.Fact.DISPATCHED, uuid.uuid4())
        assert handlers.record_fact(dispatched, services.uow()) is True
    assert handlers.get_order(order_id, services.uow())["dispatched"] is True
    assert REGISTRY.get_sample_value("shop_order_placed_to_dispatched_seconds_count") == count + 1


def test_a_failed_fact_records_no_dedupe_key(services: bootstrap.Services) -> None:
    with pytest.raises(OrderNotFound):
        handlers.record_fact(fact(10**12, commands.Fact.INVOICED, uuid.uuid4()), services.uow())
    assert rows(services, orm.inbox.processed) == 0


def test_an_order_and_its_event_commit_together(
    services: bootstrap.Services, customer: str
) -> None:
    order_id = place(services, customer)
    handlers.charge_back(commands.ChargeBack(order_id=order_id), services.uow())
    assert (
        rows(services, orm.orders),
        rows(services, orm.order_lines),
        rows(services, orm.outbox),
    ) == (1, 1, 2)


needs_postgresql = pytest.mark.skipif(
    "postgresql" not in os.environ.get("TEST_DATABASE_URL", ""),
    reason="one-statement writes and sequence blocks are PostgreSQL's",
)


@needs_postgresql
def test_a_new_order_is_written_in_one_statement(
    services: bootstrap.Services, customer: str
) -> None:
    place(services, customer)  # draws the process's first block of ids
    statements: list[str] = []
    event.listen(
        services.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement),
    )

    order_id = place(
        services,
        customer,
        (commands.NewLine(1, 2, Decimal("4.50")), commands.NewLine(2, 1, Decimal("0.10"))),
    )

    assert len(statements) == 1, statements
    assert statements[0].startswith("WITH")
    assert handlers.get_order(order_id, services.uow())["total"] == "9.10"
    assert (
        rows(services, orm.orders),
        rows(services, orm.order_lines),
        rows(services, orm.outbox),
    ) == (2, 3, 2)


@needs_postgresql
def test_processes_draw_disjoint_blocks_of_order_ids(
    services: bootstrap.Services, customer: str
) -> None:
    first, second = (
        SequenceBlocks(services.engine, block=3),
        SequenceBlocks(services.engine, block=3),
    )
    ids = [draw() for _ in range(4) for draw in (first, second)]
    assert len(set(ids)) == len(ids) == 8
    services.next_order_id = first
    order_id = place(services, customer)
    assert order_id not in ids
    assert handlers.get_order(order_id, services.uow())["id"] == order_id


@needs_postgresql
def test_an_order_with_the_most_lines_the_contract_allows(
    services: bootstrap.Services, customer: str
) -> None:
    lines = tuple(commands.NewLine(n, 1, Decimal("0.01")) for n in range(1, MAX_LINES + 1))
    order = handlers.get_order(place(services, customer, lines), services.uow())
    assert len(order["lines"]) == MAX_LINES
    assert order["total"] == "1.00"
