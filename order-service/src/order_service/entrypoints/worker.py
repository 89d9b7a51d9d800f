"""``order-service-worker``: follows billing's and logistic's facts about orders.

Queues (bound by the topology, read by this service only)::

    [billing]  ── billing.*.invoiced, billing.*.refunded ──────────────▶ order.billing
    [logistic] ── logistic.*.shipment_{dispatched,cancelled,returned} ─▶ order.logistic

Each callback records the fact on the order once per event id (the inbox, same transaction).
A fact about an order this service never took, or one that contradicts what is known (a
shipment both cancelled and returned), cannot be fixed by retrying: it is dead-lettered at once
with the reason (``PoisonMessage``). Anything else (the database restarting) raises and
is retried privately by the runtime.

The worker's main process also deletes what left the dedupe window (``INBOX_RETENTION_SECONDS``)
every ``INBOX_PURGE_EVERY_SECONDS``: the inbox's records and the ``Idempotency-Key``s of
``POST /orders``. A timer of the worker's own (no beat, no message); the relay is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery.signals import worker_process_init
from event_contracts import Delivery, Event, Invoice, PoisonMessage, Shipment, Subscriptions
from event_contracts.contrib.sqlalchemy import purge_inbox
from event_contracts.runtime import add_periodic_job, run_worker, subscriptions_of

from order_service import bootstrap
from order_service.adapters import orm
from order_service.domain.errors import InvalidTransition, OrderNotFound
from order_service.service_layer import handlers
from order_service.service_layer.commands import Fact, RecordFact
from order_service.service_layer.unit_of_work import AbstractUnitOfWork


class FactConsumer:
    """The worker's callbacks, bound to a unit-of-work factory."""

    def __init__(self, uow_factory: Callable[[], AbstractUnitOfWork]) -> None:
        self.uow_factory = uow_factory
        self.registry: Subscriptions | None = None
        self.callbacks: list[tuple[Event[Any], Callable[..., None]]] = [
            (Invoice.invoiced, self.on_invoiced),
            (Invoice.refunded, self.on_refunded),
            (Shipment.dispatched, self.on_shipment_dispatched),
            (Shipment.cancelled, self.on_shipment_cancelled),
            (Shipment.returned, self.on_shipment_returned),
        ]

    def on_invoiced(self, invoice: Invoice, delivery: Delivery) -> None:
        self.record(invoice.order_id, Fact.INVOICED, delivery)

    def on_refunded(self, invoice: Invoice, delivery: Delivery) -> None:
        self.record(invoice.order_id, Fact.REFUNDED, delivery)

    def on_shipment_dispatched(self, shipment: Shipment, delivery: Delivery) -> None:
        self.record(shipment.order_id, Fact.DISPATCHED, delivery)

    def on_shipment_cancelled(self, shipment: Shipment, delivery: Delivery) -> None:
        self.record(shipment.order_id, Fact.SHIPMENT_CANCELLED, delivery)

    def on_shipment_returned(self, shipment: Shipment, delivery: Delivery) -> None:
        self.record(shipment.order_id, Fact.SHIPMENT_RETURNED, delivery)

    def record(self, order_id: int, fact: Fact, delivery: Delivery) -> None:
        try:
            handlers.record_fact(
                RecordFact(order_id=order_id, fact=fact, delivery=delivery), self.uow_factory()
            )
        except OrderNotFound as exc:
            raise PoisonMessage(f"{exc}: a fact about an order order-service never took") from exc
        except InvalidTransition as exc:
            raise PoisonMessage(str(exc)) from exc

    def subscribe(self, registry: Subscriptions) -> FactConsumer:
        """Register the callbacks on an app's registry (``subscriptions_of(app)``)."""
        for event, callback in self.callbacks:
            registry.register(event, callback)
        self.registry = registry
        return self

    def unsubscribe(self) -> None:
        if self.registry is not None:
            for event, callback in self.callbacks:
                self.registry.unregister(event, callback)


def schedule_purge(services: bootstrap.Services) -> None:
    """Purge the inbox and the idempotency keys periodically, in the worker's main process."""
    settings, engine = services.settings, services.engine
    add_periodic_job(
        services.celery_app,
        "order.purge-inbox",
        settings.inbox_purge_every.total_seconds(),
        lambda: purge_inbox(
            engine,
            orm.inbox,
            retention=settings.inbox_retention,
            also=[orm.idempotency_keys.c.created_at],
        ),
    )


def main() -> None:
    services = bootstrap.bootstrap()
    FactConsumer(services.uow_factory).subscribe(subscriptions_of(services.celery_app))
    schedule_purge(services)

    def fresh_connections(**_: Any) -> None:
        # prefork children must not share the parent's database connections
        services.engine.dispose(close=False)

    worker_process_init.connect(fresh_connections, weak=False)
    run_worker(services.celery_app)


if __name__ == "__main__":
    main()
