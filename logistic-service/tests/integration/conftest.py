"""The real thing: RabbitMQ (the ``vhost`` fixture of event-contracts), the service's own
database (an SQLite file, or PostgreSQL when ``TEST_DATABASE_URL`` is set: one database for
every test and run, migrated and emptied before each test) and its real app."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from celery import Celery
from celery.signals import task_postrun
from event_contracts import Order, OrderLine, Publisher, RetryPolicy, create_app
from event_contracts.serialization import Money, Quantity
from event_contracts.testing import TestVhost, wait_until
from sqlalchemy import func, select, text

from logistic_service.adapters import database, orm
from logistic_service.adapters.database import create_engine
from logistic_service.adapters.unit_of_work import SqlAlchemyUnitOfWork, session_factory
from logistic_service.domain.model import Shipment
from logistic_service.entrypoints.celery_app import create_app as create_logistic_app
from logistic_service.settings import Settings


def migrate(url: str) -> None:
    """The database at ``url`` upgraded to the newest schema, as the worker does at start-up."""
    engine = database.create_engine(url)
    try:
        database.migrate(engine)
    finally:
        engine.dispose()


def empty(url: str) -> None:
    """Every table of the database at ``url`` emptied (PostgreSQL: as fresh as a SQLite file)."""
    engine = database.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(orm.metadata.tables)} CASCADE"))
    finally:
        engine.dispose()


def unique_order_id() -> int:
    """Unique per test, also in a PostgreSQL database shared by many runs."""
    return uuid.uuid4().int % 10**15


def an_order(order_id: int) -> Order:
    line = OrderLine(id=1, quantity=Quantity(2), unit_price=Money(Decimal("4.50")))
    return Order.create(id=order_id, customer_id="c-1", currency="EUR", lines=(line,))


@pytest.fixture
def database_url(tmp_path: Any) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'logistic.sqlite3'}"
    migrate(url)
    if url.startswith("postgresql"):  # one database for every test and run
        empty(url)
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


class Database:
    """Reads what the service stored (through its own unit of work)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        orm.start_mappers()

    def uow(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(session_factory(self.engine))

    def shipment(self, order_id: int) -> Shipment | None:
        # A plain read, not the repository's get: that one locks the row (FOR UPDATE on
        # PostgreSQL), and a resume job running during a poll would pass the shipment over
        # (SKIP LOCKED: "a worker is moving it"), leaving it stuck for good.
        with session_factory(self.engine)() as session:
            shipment = session.scalars(
                select(Shipment).where(orm.shipments.c.shipment_id == f"SHP-{order_id}")
            ).one_or_none()
            session.commit()  # a read; leaving without it rolls back, which expires what was loaded
            return shipment

    def status(self, order_id: int) -> str | None:
        shipment = self.shipment(order_id)
        return None if shipment is None else shipment.status.value

    def wait_for_status(self, order_id: int, status: str, timeout: float = 20) -> Shipment:
        try:
            wait_until(
                lambda: self.status(order_id) == status,
                timeout=timeout,
                what=f"SHP-{order_id} to be {status}",
            )
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; it is {self.status(order_id)}") from exc
        shipment = self.shipment(order_id)
        assert shipment is not None
        return shipment

    def count_shipments(self, order_id: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(orm.shipments)
                    .where(orm.shipments.c.order_id == order_id)
                ).scalar_one()
            )

    def processed(self, *event_ids: uuid.UUID) -> int:
        keys = [f"logistic:{event_id}" for event_id in event_ids]
        table = orm.inbox.processed
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(table).where(table.c.dedupe_key.in_(keys))
                ).scalar_one()
            )


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.engine.dispose()


@pytest.fixture
def make_logistic_app(vhost: TestVhost, settings: Settings) -> Callable[..., Celery]:
    def make(**overrides: Any) -> Celery:
        options: dict[str, Any] = {
            "settings": settings,
            "broker_urls": [vhost.url("logistic-service")],
            "shop_retry_policy": RetryPolicy(max_retries=2, first_delay=0.2),
            "worker_hijack_root_logger": False,
        }
        return create_logistic_app(**{**options, **overrides})

    return make


@pytest.fixture
def logistic_app(make_logistic_app: Callable[..., Celery]) -> Celery:
    return make_logistic_app()


@pytest.fixture
def order_publisher(vhost: TestVhost) -> Publisher:
    """Publishes as order-service does (its own broker user)."""
    return Publisher(create_app("order", broker_urls=[vhost.url("order-service")]))


class TaskLog:
    """Names of the tasks that finished in this process, in order (thread-safe)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, task: Any = None, **_: Any) -> None:
        with self.lock:
            self.names.append(task.name)

    def wait_for(self, name: str, timeout: float = 15) -> list[str]:
        wait_until(lambda: name in self.names, timeout=timeout, what=f"task {name} to finish")
        with self.lock:
            return list(self.names)


@pytest.fixture
def finished_tasks() -> Iterator[TaskLog]:
    log = TaskLog()
    task_postrun.connect(log, weak=False)
    yield log
    task_postrun.disconnect(log)
