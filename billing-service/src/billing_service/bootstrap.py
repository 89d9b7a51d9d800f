"""Wires billing's adapters into its use cases: the one place that decides what talks to what.

``bootstrap()`` gives a :class:`Billing`: the handlers and views with their unit of work,
publisher and clock filled in. The worker hands it to the Celery runtime
(:mod:`billing_service.entrypoints.consumers`); unit tests call ``tests/fakes.py``'s
``bootstrap_test_app()``, the same wiring over fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from event_contracts import BalanceView, Delivery, InvoiceView, Order
from event_contracts.serialization import utc_now
from sqlalchemy.engine import Engine

from billing_service.adapters import database, orm
from billing_service.adapters.unit_of_work import SqlAlchemyUnitOfWork, session_factory
from billing_service.service_layer import handlers, views
from billing_service.service_layer.ports import AbstractUnitOfWork, Clock, EventPublisher


@dataclass(frozen=True)
class Billing:
    """Billing's use cases bound to their adapters."""

    uow: Callable[[], AbstractUnitOfWork]
    """A fresh unit of work per event or query."""
    publisher: EventPublisher
    clock: Clock = utc_now

    def invoice_order(self, order: Order, delivery: Delivery) -> None:
        handlers.invoice_order(
            order, delivery, uow=self.uow(), publisher=self.publisher, clock=self.clock
        )

    def refund_order(self, order: Order, delivery: Delivery) -> None:
        handlers.refund_order(
            order, delivery, uow=self.uow(), publisher=self.publisher, clock=self.clock
        )

    def invoice(self, order_id: int) -> InvoiceView:
        return views.invoice(order_id, self.uow())

    def balance(self, account: str) -> BalanceView:
        return views.balance(account, self.uow())


def bootstrap(
    *,
    publisher: EventPublisher,
    engine: Engine | None = None,
    uow: Callable[[], AbstractUnitOfWork] | None = None,
    migrate: bool = False,
    clock: Clock = utc_now,
) -> Billing:
    """Billing over ``uow`` (tests), or over ``engine``'s database (default: the settings').

    ``migrate``: upgrade the schema first (entrypoints do; they run before serving anything).
    """
    if uow is None:
        orm.start_mappers()
        engine = engine or database.create_engine()
        if migrate:
            database.migrate(engine)
        sessions = session_factory(engine)

        def uow() -> AbstractUnitOfWork:
            return SqlAlchemyUnitOfWork(sessions)

    return Billing(uow=uow, publisher=publisher, clock=clock)
