"""The use cases over fakes (``bootstrap_test_app``): what they store and queue in the outbox."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import event_contracts
import pytest
from event_contracts import Delivery
from prometheus_client.registry import REGISTRY

from order_service.bootstrap import Services
from order_service.domain.errors import InvalidTransition, OrderNotFound
from order_service.service_layer import commands, handlers
from order_service.service_layer.commands import Fact
from tests.fakes import bootstrap_test_app

pytestmark = pytest.mark.unit

Submit = event_contracts.Order.submit
Chargeback = event_contracts.Order.chargeback


def place(
    services: Services, key: str | None = None, customer: str = "c-1", request_hash: str = "h1"
) -> handlers.Response:
    return handlers.place_order(
        commands.PlaceOrder(
            customer_id=customer,
            currency="EUR",
            lines=(
                commands.NewLine(1, 2, Decimal("4.50")),
                commands.NewLine(7, 1, Decimal("0.99")),
            ),
            idempotency_key=key,
            request_hash=request_hash,
            correlation_id="corr-1",
        ),
        services.uow(),
    )


def fact(order_id: int, kind: Fact, event_id: uuid.UUID | None = None) -> commands.RecordFact:
    delivery = Delivery(
        event_id=event_id or uuid.uuid4(), routing_key=f"x.v1.{kind.value}", consumer="order"
    )
    return commands.RecordFact(order_id=order_id, fact=kind, delivery=delivery)


def test_place_order_stores_it_and_queues_one_submit_event_in_the_same_commit() -> None:
    app = bootstrap_test_app()
    response = place(app.services)

    body = json.loads(response.body)
    assert response.status == 201
    assert body["status"] == "in_review" and body["total"] == "9.99"
    assert app.uow.commits == 1
    [(event, message, correlation)] = app.uow.outbox.committed
    assert event is Submit
    assert isinstance(message, event_contracts.Order)
    assert message.id == body["id"] == 1
    assert message.total == Decimal("9.99")
    assert [(line.id, line.quantity) for line in message.lines] == [(1, 2), (7, 1)]
    assert correlation == "corr-1"


def test_each_order_gets_its_own_event_id() -> None:
    app = bootstrap_test_app()
    place(app.services)
    place(app.services)
    ids = [message.event_id for message in app.uow.outbox.messages(Submit)]
    assert len(set(ids)) == 2


def test_a_retried_idempotency_key_replays_the_first_response_and_queues_nothing() -> None:
    app = bootstrap_test_app()
    first = place(app.services, key="k-1")
    again = place(app.services, key="k-1")

    assert (again.status, again.body) == (first.status, first.body)
    assert again.replayed and not first.replayed
    assert len(app.uow.outbox.committed) == 1
    assert len(app.uow.store) == 1


def test_the_same_key_with_another_body_is_refused() -> None:
    app = bootstrap_test_app()
    place(app.services, key="k-1")
    with pytest.raises(handlers.IdempotencyKeyReused, match="k-1"):
        place(app.services, key="k-1", request_hash="another")
    assert len(app.uow.outbox.committed) == 1


def test_chargeback_queues_a_new_message_with_the_same_order_data() -> None:
    app = bootstrap_test_app()
    place(app.services)
    view = handlers.charge_back(commands.ChargeBack(order_id=1), app.services.uow())

    assert view["status"] == "charged_back"
    [submitted] = app.uow.outbox.messages(Submit)
    [charged] = app.uow.outbox.messages(Chargeback)
    assert charged.event_id != submitted.event_id
    assert (charged.id, charged.customer_id, charged.currency, charged.lines) == (
        submitted.id,
        submitted.customer_id,
        submitted.currency,
        submitted.lines,
    )


def test_a_second_chargeback_is_refused_and_queues_nothing() -> None:
    app = bootstrap_test_app()
    place(app.services)
    handlers.charge_back(commands.ChargeBack(order_id=1), app.services.uow())
    with pytest.raises(InvalidTransition):
        handlers.charge_back(commands.ChargeBack(order_id=1), app.services.uow())
    assert len(app.uow.outbox.messages(Chargeback)) == 1


def test_chargeback_of_an_unknown_order() -> None:
    app = bootstrap_test_app()
    with pytest.raises(OrderNotFound, match="order 5 does not exist"):
        handlers.charge_back(commands.ChargeBack(order_id=5), app.services.uow())
    assert app.uow.outbox.committed == []


def test_facts_move_the_status_and_a_duplicate_is_skipped() -> None:
    app = bootstrap_test_app()
    place(app.services)
    invoiced = fact(1, Fact.INVOICED)

    assert handlers.record_fact(invoiced, app.services.uow()) is True
    assert handlers.record_fact(fact(1, Fact.DISPATCHED), app.services.uow()) is True
    updated_at = app.uow.store[1].updated_at
    assert handlers.record_fact(invoiced, app.services.uow()) is False  # same event id: skipped

    assert app.uow.store[1].status == "dispatched"
    assert app.uow.store[1].updated_at == updated_at
    assert app.uow.commits == 3  # place + two facts; the duplicate committed nothing


def dispatches_timed() -> tuple[float, float]:
    """(count, sum) of the placed-to-dispatched histogram in this process."""
    name = "shop_order_placed_to_dispatched_seconds"
    return REGISTRY.get_sample_value(f"{name}_count") or 0.0, REGISTRY.get_sample_value(
        f"{name}_sum"
    ) or 0.0


def dispatched(order_id: int, at: datetime) -> commands.RecordFact:
    delivery = Delivery(
        event_id=uuid.uuid4(),
        routing_key="logistic.v1.shipment_dispatched",
        consumer="order",
        headers={"occurred-at": at.isoformat()},
    )
    return commands.RecordFact(order_id=order_id, fact=Fact.DISPATCHED, delivery=delivery)


def test_an_orders_first_dispatch_is_timed_from_its_creation_once() -> None:
    app = bootstrap_test_app()
    place(app.services)
    placed_at = app.uow.store[1].created_at
    count, total = dispatches_timed()

    handlers.record_fact(fact(1, Fact.INVOICED), app.services.uow())
    assert dispatches_timed() == (count, total)  # other facts are not dispatches
    first = dispatched(1, placed_at + timedelta(seconds=42))
    assert handlers.record_fact(first, app.services.uow()) is True
    assert dispatches_timed() == (count + 1, pytest.approx(total + 42))
    assert handlers.record_fact(first, app.services.uow()) is False  # its redelivery
    assert (
        handlers.record_fact(dispatched(1, placed_at + timedelta(seconds=99)), app.services.uow())
        is True
    )
    assert dispatches_timed() == (
        count + 1,
        pytest.approx(total + 42),
    )  # a second event, same order


def test_a_fact_about_an_unknown_order() -> None:
    app = bootstrap_test_app()
    with pytest.raises(OrderNotFound):
        handlers.record_fact(fact(42, Fact.INVOICED), app.services.uow())
    assert app.uow.commits == 0


def test_get_order() -> None:
    app = bootstrap_test_app()
    place(app.services)
    assert handlers.get_order(1, app.services.uow())["id"] == 1
    with pytest.raises(OrderNotFound):
        handlers.get_order(2, app.services.uow())


def test_the_edges_lines_about_an_order_carry_its_id_as_a_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = bootstrap_test_app()
    with caplog.at_level(logging.INFO, logger="order_service.service_layer.handlers"):
        place(app.services)
        handlers.charge_back(commands.ChargeBack(order_id=1), app.services.uow())
    assert [getattr(r, "order_id", None) for r in caplog.records] == ["1", "1"]
