"""The contracts load no broker library; each app owns its subscriptions."""

from __future__ import annotations

import subprocess
import sys
import uuid
from decimal import Decimal
from typing import Any

import pytest

from event_contracts import (
    GET_INVOICE,
    Delivery,
    InvoiceQuery,
    Order,
    OrderLine,
    Subscriptions,
    create_app,
    unstructure,
)
from event_contracts.runtime import subscriptions_of
from event_contracts.testing import InMemoryBus

pytestmark = pytest.mark.unit

BROKER = ["amqp://u:p@localhost:1/shop"]  # never connected to: nothing here publishes


@pytest.mark.parametrize(
    "module",
    [
        "event_contracts",
        "event_contracts.messages",
        "event_contracts.serialization",
        "event_contracts.schema",
        "event_contracts.event",
        "event_contracts.delivery",
        "event_contracts.topology",
        "event_contracts.generate",
        "event_contracts.subscriptions",
        "event_contracts.inbox",
    ],
)
def test_the_contracts_import_no_broker_library(module: str) -> None:
    check = (
        f"import {module}, sys; "
        "loaded = sorted(m for m in ('celery', 'kombu', 'amqp') if m in sys.modules); "
        "assert not loaded, loaded"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_runtime_names_are_still_importable_from_the_package_root() -> None:
    import event_contracts
    from event_contracts import runtime

    assert event_contracts.create_app is runtime.create_app
    assert event_contracts.Publisher is runtime.Publisher
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = event_contracts.no_such_name  # type: ignore[attr-defined]


def an_order() -> Order:
    return Order.create(
        id=5,
        customer_id="c",
        currency="EUR",
        lines=(OrderLine(id=1, quantity=1, unit_price=Decimal("2.00")),),
    )


def test_a_callback_registered_on_an_app_runs_in_that_app_only() -> None:
    billing, logistic = create_app("billing", broker_urls=BROKER), create_app("logistic", broker_urls=BROKER)
    seen: list[str] = []
    subscriptions_of(billing).register(Order.submit, lambda order: seen.append("billing"))
    subscriptions_of(logistic).register(
        Order.submit, lambda order, delivery: seen.append(f"logistic:{delivery.consumer}")
    )

    InMemoryBus(deliver=True, subscriptions=subscriptions_of(billing)).publish(Order.submit, an_order())
    assert seen == ["billing"]
    InMemoryBus(deliver=True, consumer="logistic", subscriptions=subscriptions_of(logistic)).publish(
        Order.submit, an_order()
    )
    assert seen == ["billing", "logistic:logistic"]


def test_the_workers_task_dispatches_through_its_own_apps_registry() -> None:
    billing, other = create_app("billing", broker_urls=BROKER), create_app("billing", broker_urls=BROKER)
    received: list[tuple[int, str]] = []

    @subscriptions_of(billing).on(Order.submit)
    def on_submit(order: Order, delivery: Delivery) -> None:
        received.append((order.id, delivery.routing_key))

    order = an_order()
    billing.tasks["order.v2.submit"].apply(
        kwargs={"instance": unstructure(order)}, task_id=str(order.event_id)
    )
    other.tasks["order.v2.submit"].apply(kwargs={"instance": unstructure(order)}, task_id=str(uuid.uuid4()))
    assert received == [(5, "order.v2.submit")]


def test_shared_callbacks_run_in_every_app_before_its_own() -> None:
    subscriptions = Subscriptions()
    seen: list[str] = []

    def shared(order: Order) -> None:
        seen.append("shared")

    def own(order: Order) -> None:
        seen.append("own")

    subscriptions.register(Order.submit, own)
    Order.submit.register_callback(shared)
    try:
        assert subscriptions.callbacks(Order.submit) == (shared, own)
        InMemoryBus(deliver=True, subscriptions=subscriptions).publish(Order.submit, an_order())
        InMemoryBus(deliver=True).publish(Order.submit, an_order())
    finally:
        Order.submit.unregister_callback(shared)
    subscriptions.unregister(Order.submit, own)
    assert seen == ["shared", "own", "shared"]
    assert subscriptions.callbacks(Order.submit) == ()


def test_an_apps_responder_answers_in_place_of_the_shared_one() -> None:
    subscriptions = Subscriptions()
    assert subscriptions.responder(GET_INVOICE) is GET_INVOICE.responder

    def answer(query: InvoiceQuery) -> Any:
        return query.order_id

    subscriptions.register_responder(GET_INVOICE, answer)
    assert subscriptions.responder(GET_INVOICE) is answer
    subscriptions.unregister_responder(GET_INVOICE)
    assert subscriptions.responder(GET_INVOICE) is GET_INVOICE.responder
