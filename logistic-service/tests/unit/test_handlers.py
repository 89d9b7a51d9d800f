"""The use cases with fakes: a fake unit of work, a fake pipeline, InMemoryBus as publisher."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from uuid import NAMESPACE_URL, uuid4, uuid5

import pytest
from event_contracts import Delivery, Envelope, Order, OrderLine
from event_contracts import Shipment as ShipmentFact
from event_contracts.serialization import Money, Quantity

from logistic_service.domain.model import (
    IllegalTransition,
    ShipmentStatus,
    UnknownShipment,
)
from logistic_service.service_layer.handlers import StepOutcome

from ..fakes import TestApp, bootstrap_test_app

pytestmark = pytest.mark.unit

S = ShipmentStatus
_order_ids = itertools.count(1000)


@pytest.fixture
def app() -> TestApp:
    return bootstrap_test_app()


def an_order(order_id: int) -> Order:
    line = OrderLine(id=1, quantity=Quantity(2), unit_price=Money(Decimal("4.50")))
    return Order.create(id=order_id, customer_id="c-1", currency="EUR", lines=(line,))


def delivered(
    order: Order, routing_key: str = "order.v2.submit", correlation_id: str | None = None
) -> Delivery:
    return Delivery(
        event_id=order.event_id,
        routing_key=routing_key,
        consumer="logistic",
        correlation_id=correlation_id,
    )


def submitted(app: TestApp, order_id: int | None = None) -> tuple[Order, str]:
    order = an_order(order_id or next(_order_ids))
    app.handlers.ship_order(order, delivered(order))
    return order, f"SHP-{order.id}"


def run_chain(app: TestApp, shipment_id: str) -> list[StepOutcome]:
    return [
        app.handlers.pick(shipment_id),
        app.handlers.pack(shipment_id),
        app.handlers.dispatch(shipment_id),
    ]


def chargeback_of(order_id: int) -> Order:
    return an_order(order_id)  # a new event (new event id) about the same order


# --- submit


def test_submit_creates_the_shipment_and_starts_its_chain(app: TestApp) -> None:
    order = an_order(next(_order_ids))
    app.handlers.ship_order(order, delivered(order, correlation_id="corr-7"))

    shipment = app.shipment(f"SHP-{order.id}")
    assert (shipment.order_id, shipment.status) == (order.id, S.CREATED)
    assert shipment.submit_event_id == order.event_id
    assert app.pipeline.started == [(f"SHP-{order.id}", "corr-7")]
    assert app.uow.commits == 1


def test_a_seed_v1_submit_is_shipped_like_any_other(app: TestApp) -> None:
    task_id = uuid4()
    delivery = Delivery(event_id=task_id, routing_key="order.v1.submit", consumer="logistic")
    payload = {"id": 77, "lines": [{"id": 1, "quantity": 2, "price": 3}]}
    order = Order.submit.decode("order.v1.submit", payload, Envelope(task_id, delivery.occurred_at))

    app.handlers.ship_order(order, delivery)
    assert app.shipment("SHP-77").submit_event_id == task_id
    assert app.pipeline.started == [("SHP-77", None)]


def test_a_redelivered_submit_creates_nothing_and_restarts_only_an_unmoved_chain(
    app: TestApp,
) -> None:
    order, shipment_id = submitted(app)
    app.handlers.ship_order(order, delivered(order))  # e.g. the chain publish had failed
    assert len(app.uow.shipments.rows) == 1
    assert app.pipeline.started == [(shipment_id, None)] * 2

    app.handlers.pick(shipment_id)
    app.handlers.ship_order(order, delivered(order))  # the chain runs: leave it alone
    assert len(app.pipeline.started) == 2


def test_a_second_submit_of_the_same_order_creates_and_starts_nothing(app: TestApp) -> None:
    order, shipment_id = submitted(app)
    again = an_order(order.id)
    app.handlers.ship_order(again, delivered(again))

    assert list(app.uow.shipments.rows) == [shipment_id]
    assert app.shipment(shipment_id).submit_event_id == order.event_id
    assert app.pipeline.started == [(shipment_id, None)]


# --- the chain


def test_the_chain_dispatches_and_publishes_the_fact(app: TestApp) -> None:
    order, shipment_id = submitted(app)
    app.clock.advance(5)
    assert run_chain(app, shipment_id) == [StepOutcome.DONE] * 3

    assert app.shipment(shipment_id).status is S.DISPATCHED
    [fact] = app.bus.of(ShipmentFact.dispatched)
    assert fact == ShipmentFact(
        event_id=uuid5(NAMESPACE_URL, f"logistic:dispatched:{order.id}"),
        shipment_id=shipment_id,
        order_id=order.id,
        occurred_at=app.clock.now,
        caused_by=order.event_id,
    )


def test_a_rerun_chain_changes_nothing_and_publishes_the_same_fact(app: TestApp) -> None:
    _, shipment_id = submitted(app)
    run_chain(app, shipment_id)
    app.clock.advance(30)
    assert run_chain(app, shipment_id) == [StepOutcome.DONE] * 3

    first, second = app.bus.of(ShipmentFact.dispatched)
    assert first == second
    assert app.shipment(shipment_id).dispatched_at == app.clock.now.replace(second=0)


def test_a_cancelled_shipment_stops_the_chain_quietly(app: TestApp) -> None:
    order, shipment_id = submitted(app)
    assert app.handlers.pick(shipment_id) is StepOutcome.DONE
    chargeback = chargeback_of(order.id)
    app.handlers.charge_back(chargeback, delivered(chargeback, "order.v2.chargeback"))

    assert app.handlers.pack(shipment_id) is StepOutcome.STOPPED
    assert app.handlers.dispatch(shipment_id) is StepOutcome.STOPPED
    assert app.shipment(shipment_id).status is S.CANCELLED
    assert app.bus.of(ShipmentFact.dispatched) == []


def test_a_step_for_an_unknown_shipment_fails(app: TestApp) -> None:
    with pytest.raises(UnknownShipment, match="SHP-404"):
        app.handlers.pick("SHP-404")


def test_a_step_out_of_order_fails_and_changes_nothing(app: TestApp) -> None:
    _, shipment_id = submitted(app)
    with pytest.raises(IllegalTransition):
        app.handlers.dispatch(shipment_id)
    assert app.shipment(shipment_id).status is S.CREATED
    assert app.bus.published == []


# --- chargeback


def test_a_chargeback_before_dispatch_cancels_and_says_so(app: TestApp) -> None:
    order, shipment_id = submitted(app)
    app.handlers.pick(shipment_id)
    chargeback = chargeback_of(order.id)
    app.handlers.charge_back(chargeback, delivered(chargeback, "order.v2.chargeback", "corr-9"))

    assert app.shipment(shipment_id).status is S.CANCELLED
    assert [e for e, _ in app.bus.published] == [ShipmentFact.cancelled]
    [fact] = app.bus.of(ShipmentFact.cancelled)
    assert fact.event_id == uuid5(NAMESPACE_URL, f"logistic:cancelled:{order.id}")
    assert (fact.caused_by, fact.shipment_id, fact.order_id) == (
        chargeback.event_id,
        shipment_id,
        order.id,
    )


def test_a_chargeback_after_dispatch_opens_a_return_and_says_so(app: TestApp) -> None:
    order, shipment_id = submitted(app)
    run_chain(app, shipment_id)
    chargeback = chargeback_of(order.id)
    app.handlers.charge_back(chargeback, delivered(chargeback, "order.v2.chargeback"))

    assert app.shipment(shipment_id).status is S.RETURN_OPENED
    [fact] = app.bus.of(ShipmentFact.returned)
    assert fact.event_id == uuid5(NAMESPACE_URL, f"logistic:returned:{order.id}")
    assert fact.caused_by == chargeback.event_id
    assert app.bus.of(ShipmentFact.cancelled) == []


def test_a_repeated_chargeback_publishes_the_same_fact_and_changes_nothing(app: TestApp) -> None:
    order, shipment_id = submitted(app)
    first, second = chargeback_of(order.id), chargeback_of(order.id)
    app.handlers.charge_back(first, delivered(first, "order.v2.chargeback"))
    stopped_at = app.shipment(shipment_id).updated_at
    app.clock.advance(10)
    app.handlers.charge_back(first, delivered(first, "order.v2.chargeback"))  # redelivered
    app.handlers.charge_back(second, delivered(second, "order.v2.chargeback"))  # another event

    assert app.shipment(shipment_id).updated_at == stopped_at
    one, two, three = app.bus.of(ShipmentFact.cancelled)
    assert one == two == three and one.caused_by == first.event_id


def test_a_chargeback_for_an_unknown_shipment_fails_and_is_not_remembered(app: TestApp) -> None:
    order = an_order(next(_order_ids))
    chargeback = chargeback_of(order.id)
    with pytest.raises(UnknownShipment):
        app.handlers.charge_back(chargeback, delivered(chargeback, "order.v2.chargeback"))
    assert app.bus.published == []

    # the submit arrives, the runtime retries the chargeback: now it applies
    app.handlers.ship_order(order, delivered(order))
    app.handlers.charge_back(chargeback, delivered(chargeback, "order.v2.chargeback"))
    assert app.shipment(f"SHP-{order.id}").status is S.CANCELLED


# --- the beat job


def test_resume_restarts_only_shipments_idle_in_the_warehouse(app: TestApp) -> None:
    ids = {status: submitted(app)[1] for status in (S.CREATED, S.PICKED, S.PACKED)}
    app.handlers.pick(ids[S.PICKED])
    app.handlers.pick(ids[S.PACKED])
    app.handlers.pack(ids[S.PACKED])
    _, dispatched = submitted(app)
    run_chain(app, dispatched)
    cancelled_order, cancelled = submitted(app)
    chargeback = chargeback_of(cancelled_order.id)
    app.handlers.charge_back(chargeback, delivered(chargeback, "order.v2.chargeback"))
    app.clock.advance(30)
    _, fresh = submitted(app)
    app.pipeline.started.clear()

    app.clock.advance(31)  # 61 s after the first ones, 31 s after the fresh one
    resumed = app.handlers.resume_stuck_shipments()

    assert sorted(resumed) == sorted(ids.values())
    assert sorted(app.pipeline.started) == sorted((i, None) for i in ids.values())
    assert fresh not in resumed and dispatched not in resumed and cancelled not in resumed


def test_a_resumed_shipment_is_not_resumed_again_before_another_idle_period(app: TestApp) -> None:
    _, shipment_id = submitted(app)
    app.clock.advance(61)
    assert app.handlers.resume_stuck_shipments() == [shipment_id]
    app.clock.advance(30)
    assert app.handlers.resume_stuck_shipments() == []
    app.clock.advance(31)
    assert app.handlers.resume_stuck_shipments() == [shipment_id]


def test_resume_takes_the_oldest_first_and_at_most_a_batch(app: TestApp) -> None:
    ids = []
    for _ in range(5):
        ids.append(submitted(app)[1])
        app.clock.advance(1)
    app.clock.advance(60)
    assert app.handlers.resume_stuck_shipments() == ids[:3]  # the test app's batch is 3
    assert app.handlers.resume_stuck_shipments() == ids[3:]


def test_idle_time_is_measured_up_to_the_jobs_sending_not_its_running(app: TestApp) -> None:
    sent_at = app.clock()
    _, lost = submitted(app)  # its step was published before the job: delivered ahead of it
    lost_at = app.clock()
    app.clock.advance(30)
    submitted(app)  # its step queues behind the job
    app.clock.advance(600)  # the job waited 10 minutes behind a backlog
    app.pipeline.started.clear()

    assert app.handlers.resume_stuck_shipments(sent_at) == []  # nothing idle 60 s before sending

    # a job sent once the first had been idle 61 s: only that one, the other is queued behind
    assert app.handlers.resume_stuck_shipments(lost_at + timedelta(seconds=61)) == [lost]
    assert app.pipeline.started == [(lost, None)]


def test_a_sending_time_ahead_of_the_workers_clock_counts_as_now(app: TestApp) -> None:
    _, shipment_id = submitted(app)
    app.clock.advance(61)
    assert app.handlers.resume_stuck_shipments(app.clock() + timedelta(hours=1)) == [shipment_id]
