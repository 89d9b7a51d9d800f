"""order on the bus: its callbacks on billing's and logistic's facts about orders.

::

    [billing]  ── billing.*.invoiced, billing.*.refunded ──────────────▶ order.billing
    [logistic] ── logistic.*.shipment_{dispatched,cancelled,returned} ─▶ order.logistic
                                                                          ──▶ record_fact

Each callback records the fact on the order once per event id (the inbox, same transaction).
A fact about an order this service never took, or one that contradicts what is known (a
shipment both cancelled and returned), cannot be fixed by retrying: it is dead-lettered at once
with its reason (``event_contracts.service_defaults.dead_letters.refusing``, e.g.
``INV-42: order 42 does not exist``). Anything else (the database restarting) raises and is
retried privately by the runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from event_contracts import Delivery, Event, Invoice, Shipment, Subscriptions
from event_contracts.service_defaults.dead_letters import refusing

from order_service.domain.errors import InvalidTransition, OrderNotFound
from order_service.service_layer import handlers
from order_service.service_layer.commands import Fact, RecordFact
from order_service.service_layer.ports import AbstractUnitOfWork


def subscribe(uow: Callable[[], AbstractUnitOfWork], registry: Subscriptions) -> Callable[[], None]:
    """Register order's callbacks on an app's registry (``subscriptions_of(app)``); returns a
    function that removes them."""

    @refusing(OrderNotFound, InvalidTransition)
    def record(subject: str, order_id: int, fact: Fact, delivery: Delivery) -> None:
        """``subject``: the fact's own id, named in a dead letter's reason."""
        handlers.record_fact(RecordFact(order_id=order_id, fact=fact, delivery=delivery), uow())

    def invoice_fact(fact: Fact) -> Callable[[Invoice, Delivery], None]:
        def on_invoice(invoice: Invoice, delivery: Delivery) -> None:
            record(invoice.invoice_id, invoice.order_id, fact, delivery)

        return on_invoice

    def shipment_fact(fact: Fact) -> Callable[[Shipment, Delivery], None]:
        def on_shipment(shipment: Shipment, delivery: Delivery) -> None:
            record(shipment.shipment_id, shipment.order_id, fact, delivery)

        return on_shipment

    callbacks: list[tuple[Event[Any], Callable[..., None]]] = [
        (Invoice.invoiced, invoice_fact(Fact.INVOICED)),
        (Invoice.refunded, invoice_fact(Fact.REFUNDED)),
        (Shipment.dispatched, shipment_fact(Fact.DISPATCHED)),
        (Shipment.cancelled, shipment_fact(Fact.SHIPMENT_CANCELLED)),
        (Shipment.returned, shipment_fact(Fact.SHIPMENT_RETURNED)),
    ]
    for event, callback in callbacks:
        registry.register(event, callback)

    def unsubscribe() -> None:
        for event, callback in callbacks:
            registry.unregister(event, callback)

    return unsubscribe
