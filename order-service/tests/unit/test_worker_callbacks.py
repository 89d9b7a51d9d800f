"""The worker's callbacks over fakes (``bootstrap_test_app``), driven through the contracts'
InMemoryBus as a worker would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from event_contracts import Invoice, PoisonMessage, Shipment, Subscriptions
from event_contracts.serialization import CurrencyCode, Money, utc_now
from event_contracts.testing import InMemoryBus

from order_service.entrypoints.consumers import subscribe
from order_service.service_layer import commands, handlers
from tests.fakes import FakeUnitOfWork, TestApp, bootstrap_test_app

pytestmark = pytest.mark.unit


def invoice(order_id: int, event_id: uuid.UUID | None = None) -> Invoice:
    return Invoice(
        event_id=event_id or uuid.uuid4(),
        invoice_id=f"INV-{order_id}",
        order_id=order_id,
        customer_id="c",
        currency=CurrencyCode("EUR"),
        amount=Money(Decimal("9.00")),
        occurred_at=utc_now(),
        caused_by=uuid.uuid4(),
    )


def shipment(order_id: int) -> Shipment:
    return Shipment(
        event_id=uuid.uuid4(),
        shipment_id=f"SHP-{order_id}",
        order_id=order_id,
        occurred_at=utc_now(),
        caused_by=uuid.uuid4(),
    )


@pytest.fixture
def app() -> TestApp:
    app = bootstrap_test_app()
    handlers.place_order(
        commands.PlaceOrder(
            customer_id="c-1", currency="EUR", lines=(commands.NewLine(1, 2, Decimal("4.50")),)
        ),
        app.services.uow(),
    )
    return app


@pytest.fixture
def uow(app: TestApp) -> FakeUnitOfWork:
    return app.uow


@pytest.fixture
def bus(app: TestApp) -> Iterator[InMemoryBus]:
    registry = Subscriptions()
    unsubscribe = subscribe(app.services.uow_factory, registry)  # as the worker subscribes
    yield InMemoryBus(deliver=True, consumer="order", subscriptions=registry)
    unsubscribe()


def test_billing_and_logistic_facts_reach_the_order(uow: FakeUnitOfWork, bus: InMemoryBus) -> None:
    bus.publish(Shipment.dispatched, shipment(1))
    assert uow.store[1].status == "in_review"
    bus.publish(Invoice.invoiced, invoice(1))
    assert uow.store[1].status == "dispatched"


def test_chargeback_facts_end_the_order(
    app: TestApp, uow: FakeUnitOfWork, bus: InMemoryBus
) -> None:
    handlers.charge_back(commands.ChargeBack(order_id=1), app.services.uow())
    bus.publish(Invoice.refunded, invoice(1))
    bus.publish(Shipment.cancelled, shipment(1))
    assert uow.store[1].status == "cancelled"


def test_a_fact_about_an_order_never_taken_is_poison(bus: InMemoryBus) -> None:
    with pytest.raises(PoisonMessage, match="order 9000000001 does not exist"):
        bus.publish(Invoice.invoiced, invoice(9_000_000_001))


def test_contradicting_facts_are_poison(uow: FakeUnitOfWork, bus: InMemoryBus) -> None:
    bus.publish(Shipment.cancelled, shipment(1))
    with pytest.raises(PoisonMessage, match="already reported the shipment cancelled"):
        bus.publish(Shipment.returned, shipment(1))


def test_the_same_event_twice_is_handled_once(uow: FakeUnitOfWork, bus: InMemoryBus) -> None:
    fact = invoice(1)
    bus.publish(Invoice.invoiced, fact)
    commits = uow.commits
    bus.publish(Invoice.invoiced, fact)
    assert uow.commits == commits
    assert uow.inbox.keys == {f"order:{fact.event_id}"}
