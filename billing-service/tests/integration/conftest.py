"""Integration fixtures: the service's real database and its real Celery worker on a real broker.

Database: a SQLite file in ``tmp_path``, or PostgreSQL when ``TEST_DATABASE_URL`` is set (one
database for every test and run: migrated and emptied before each test). Broker:
event-contracts' ``vhost`` fixture (a fresh vhost with the whole topology and least-privilege
users on a throwaway RabbitMQ node).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from celery import Celery
from event_contracts import Order, OrderLine, Publisher, RetryPolicy, create_app
from event_contracts.runtime import subscriptions_of
from event_contracts.testing import TestVhost, running_worker
from sqlalchemy import text
from sqlalchemy.engine import Engine

from billing_service.adapters import database, orm
from billing_service.bootstrap import Billing
from billing_service.entrypoints.consumers import subscribe
from billing_service.entrypoints.worker import build

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path}/billing.sqlite3"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = database.create_engine(database_url)
    if engine.dialect.name == "postgresql":  # as fresh as each test's SQLite file
        database.migrate(engine)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(orm.metadata.tables)} CASCADE"))
    yield engine
    engine.dispose()


@pytest.fixture
def migrated(engine: Engine) -> Engine:
    database.migrate(engine)
    return engine


@pytest.fixture
def worker(vhost: TestVhost, engine: Engine) -> Iterator[tuple[Celery, Billing]]:
    """billing-service's own app and use cases, consuming in a thread (solo pool)."""
    app, billing = build(
        broker_urls=[vhost.url("billing-service")],
        engine=engine,
        migrate=True,
        shop_retry_policy=RetryPolicy(max_retries=2, first_delay=0.2),
        worker_hijack_root_logger=False,
    )
    unsubscribe = subscribe(billing, subscriptions_of(app))
    try:
        with running_worker(vhost, "billing", app=app):
            yield app, billing
    finally:
        unsubscribe()


@pytest.fixture
def order_service(vhost: TestVhost) -> Publisher:
    """Publishes as order-service does (its broker user)."""
    return Publisher(create_app("order", broker_urls=[vhost.url("order-service")]))


def unique_order_id() -> int:
    return uuid.uuid4().int >> 80


def an_order(
    order_id: int | None = None,
    *,
    currency: str = "EUR",
    unit_price: str = "4.50",
    quantity: int = 2,
) -> Order:
    return Order.create(
        id=unique_order_id() if order_id is None else order_id,
        customer_id="c-int",
        currency=currency,
        lines=(OrderLine(id=1, quantity=quantity, unit_price=Decimal(unit_price)),),  # type: ignore[arg-type]
    )


def again(order: Order) -> Order:
    return Order.create(
        id=order.id, customer_id=order.customer_id, currency=order.currency, lines=order.lines
    )
