"""The Event descriptor, the topology and the generated artefacts."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from event_contracts import (
    EVENTS,
    TOPOLOGY,
    BoundEvent,
    Delivery,
    Event,
    InMemoryProcessedEvents,
    Order,
    OrderLine,
    RoutingKey,
    Subscription,
    create_app,
)
from event_contracts.__main__ import render
from event_contracts.generate import definitions, permissions, service_definitions
from event_contracts.testing import InMemoryBus
from event_contracts.topology import Service

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]


def an_order() -> Order:
    return Order.create(
        id=1,
        customer_id="c",
        currency="EUR",
        lines=(OrderLine(id=1, quantity=1, unit_price=Decimal("2.00")),),
    )


def test_descriptor_knows_its_owner_without_being_read_first() -> None:
    @attrs.frozen
    class Thing:
        event_id: uuid.UUID
        happened = Event("order", "order.v1.happened")

    assert Thing.__dict__["happened"].owner is Thing
    assert EVENTS.pop("order.v1.happened") is Thing.__dict__["happened"]


def test_on_the_class_it_is_the_event_on_an_instance_it_publishes() -> None:
    assert isinstance(Order.submit, Event)
    assert Order.submit.routing_key == "order.v2.submit"
    assert Order.submit.binding_key == "order.*.submit"
    order = an_order()
    assert isinstance(order.submit, BoundEvent)
    bus = InMemoryBus()
    assert order.submit(publisher=bus) == order.event_id  # type: ignore[arg-type]
    assert bus.of(Order.submit) == [order] and bus.of(Order.chargeback) == []


def test_without_a_configured_publisher_publishing_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match="event_contracts.connect"):
        an_order().submit()


def test_callbacks_get_the_message_and_optionally_the_delivery() -> None:
    seen: list[Any] = []

    def one(order: Order) -> None:
        seen.append(("one", order.id))

    def two(order: Order, delivery: Delivery) -> None:
        seen.append(("two", delivery.dedupe_key))

    Order.submit.register_callback(one)
    Order.submit.register_callback(two)
    try:
        InMemoryBus(deliver=True, consumer="billing").publish(Order.submit, an_order())
    finally:
        Order.submit.unregister_callback(one)
        Order.submit.unregister_callback(two)
    assert seen[0] == ("one", 1) and seen[1][0] == "two" and seen[1][1].startswith("billing:")


def test_dedupe_hook_lets_an_event_through_once() -> None:
    processed = InMemoryProcessedEvents()
    delivery = Delivery(event_id=uuid.uuid4(), routing_key="order.v2.submit", consumer="billing")
    assert processed.first_delivery(delivery) is True
    assert processed.first_delivery(delivery) is False
    assert processed.first_delivery(attrs.evolve(delivery, consumer="logistic")) is True


@pytest.mark.parametrize("bad", ["order.submit", "order.v0.submit", "Order.v1.submit", "order.v1."])
def test_routing_keys_must_be_service_version_event(bad: str) -> None:
    with pytest.raises(ValueError, match="<service>.v<N>.<event>"):
        RoutingKey.parse(bad)


def test_previous_versions_must_be_older_and_of_the_same_event() -> None:
    from event_contracts import OrderV1, PreviousVersion

    with pytest.raises(ValueError, match="older"):
        Event(
            "order", "order.v2.submit", previous=[PreviousVersion("order.v3.submit", OrderV1, lambda o, d: o)]
        )
    with pytest.raises(ValueError, match="exchange"):
        Event("billing", "order.v2.submit")


def test_every_subscribed_version_has_a_task_and_nothing_else_does() -> None:
    app = create_app("billing", broker_urls=["amqp://u:p@localhost:1/shop"])
    own = {name for name in app.tasks if not name.startswith("celery.")}
    assert own == {
        "order.v1.submit",
        "order.v2.submit",
        "order.v1.chargeback",
        "order.v2.chargeback",
        "billing.sync.invoice",
        "billing.sync.balance",
    }
    assert [q.name for q in app.conf.task_queues] == ["billing.order", "billing.sync"]
    assert all(q.no_declare for q in app.conf.task_queues)


def test_each_app_s_tasks_know_their_own_service_and_queue() -> None:
    """The service is cached per task, so two apps in one process must not share it."""
    billing = create_app("billing", broker_urls=["amqp://u:p@localhost:1/shop"])
    logistic = create_app("logistic", broker_urls=["amqp://u:p@localhost:1/shop"])
    for app, service in ((billing, "billing"), (logistic, "logistic")):
        task = app.tasks["order.v2.submit"]
        assert (task.service, task.topology) == (service, TOPOLOGY)
        assert task.own_queue() == f"{service}.order"


def test_each_consumed_queue_has_retry_dlq_and_a_policy() -> None:
    generated = definitions()
    queues = {q["name"] for q in generated["queues"]}
    policies = {p["name"]: p["definition"] for p in generated["policies"]}
    for queue in ("billing.order", "logistic.order", "order.billing", "order.logistic", "logistic.internal"):
        assert {queue, f"{queue}.retry", f"{queue}.dlq"} <= queues
        assert policies[queue]["dead-letter-routing-key"] == queue
        assert policies[f"{queue}.retry"]["dead-letter-exchange"] == ""
    assert all(q["arguments"] == {"x-queue-type": "quorum"} and q["durable"] for q in generated["queues"])
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in generated["bindings"]}
    assert ("order", "billing.order", "order.*.submit") in bindings
    assert ("order", "logistic.order", "order.*.chargeback") in bindings


def test_no_classic_mirroring_or_ha_policies_anywhere() -> None:
    text = json.dumps(definitions())
    assert "ha-mode" not in text and "ha-params" not in text


def test_a_user_may_publish_only_on_its_own_exchanges() -> None:
    import re

    rows = {row["user"]: row for row in permissions()}
    billing = rows["billing-service"]
    assert re.match(billing["write"], "billing") and not re.match(billing["write"], "order")
    assert re.match(billing["read"], "billing.order")
    assert not re.match(billing["read"], "logistic.order")
    assert re.match(billing["configure"], "billing-service@abc123.celery.pidbox")
    assert not re.match(billing["configure"], "logistic-service@abc123.celery.pidbox")
    assert not re.match(rows["order-service"]["write"], "billing")
    assert re.match(rows["order-service"]["write"], "billing.sync")


@pytest.mark.parametrize(
    ("artefact", "path"),
    [
        ("definitions", "infra/rabbitmq/definitions.json"),
        ("users", "infra/rabbitmq/users.tsv"),
        ("asyncapi", "event-contracts/asyncapi.json"),
    ],
)
def test_committed_generated_files_match_the_code(artefact: str, path: str) -> None:
    committed = REPO / path
    assert committed.exists(), f"{path} missing: python -m event_contracts {artefact} > {path}"
    assert committed.read_text() == render(artefact), (
        f"{path} is stale: run `python -m event_contracts {artefact} > {path}`"
    )


def test_asyncapi_documents_every_version_and_its_consumers() -> None:
    doc = json.loads(render("asyncapi"))
    assert doc["asyncapi"] == "3.0.0"
    assert {
        "order.v1.submit",
        "order.v2.submit",
        "billing.v1.invoiced",
        "logistic.v1.shipment_dispatched",
    } <= set(doc["channels"])
    assert "billing-service.receives.order.v1.submit" in doc["operations"]
    line = doc["components"]["schemas"]["OrderLine"]["properties"]
    assert line["unit_price"]["type"] == "string"
    assert TOPOLOGY.vhost in doc["servers"]["rabbitmq"]["pathname"]


def test_sql_processed_events_commit_with_the_effects() -> None:
    from sqlalchemy import MetaData, create_engine
    from sqlalchemy.orm import Session

    from event_contracts.contrib.sqlalchemy import SqlProcessedEvents, processed_events_table

    metadata = MetaData()
    table = processed_events_table(metadata)
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    delivery = Delivery(event_id=uuid.uuid4(), routing_key="order.v2.submit", consumer="billing")
    with Session(engine) as session:
        assert SqlProcessedEvents(session, table).first_delivery(delivery)
        session.rollback()  # the effects failed: the key must not stick
    with Session(engine) as session:
        assert SqlProcessedEvents(session, table).first_delivery(delivery)
        session.commit()
    with Session(engine) as session:
        assert not SqlProcessedEvents(session, table).first_delivery(delivery)


def test_a_service_app_routes_its_own_tasks_to_its_internal_queue() -> None:
    app = create_app("logistic", broker_urls=["amqp://u:p@localhost:1/shop"])

    @app.task(name="logistic.internal.pick", shared=False)
    def pick(shipment_id: str) -> None: ...

    route = app.amqp.router.route({}, "logistic.internal.pick")
    assert (route["exchange"], route["routing_key"]) == ("logistic.internal", "logistic.internal")
    assert route["queue"].name == "logistic.internal"
    from event_contracts.runtime.consumer import ServiceTask

    assert isinstance(app.tasks["logistic.internal.pick"], ServiceTask)


def test_nobody_writes_on_the_default_exchange_and_answers_go_to_the_callers_reply_queues() -> None:
    import re

    rows = {row["user"]: row for row in permissions()}
    assert not [user for user, row in rows.items() if re.search(row["write"], "amq.default")]
    reply_queue = TOPOLOGY.service("order").reply_queue("ab" * 16)
    billing, order = rows["billing-service"], rows["order-service"]
    assert re.search(billing["write"], "order.reply")
    assert not re.search(billing["write"], reply_queue)  # cannot bind it anywhere
    assert not re.search(billing["read"], "order.reply")  # cannot bind anything to the exchange
    assert re.search(order["configure"], reply_queue) and re.search(order["read"], reply_queue)
    assert not re.search(rows["logistic-service"]["configure"], reply_queue)


@pytest.mark.parametrize(
    ("callee", "reply_to", "route"),
    [
        ("billing", "order.reply." + "0f" * 16, ("order.reply", "order.reply." + "0f" * 16)),
        ("billing", "logistic.order", None),
        ("billing", "order.reply.0f", None),
        ("billing", "amq.rabbitmq.reply-to.g2dkAA", None),
        ("billing", "", None),
        ("logistic", "order.reply." + "0f" * 16, None),  # order does not call logistic
    ],
)
def test_a_responder_answers_only_a_reply_queue_of_one_of_its_callers(
    callee: str, reply_to: str, route: tuple[str, str] | None
) -> None:
    assert TOPOLOGY.reply_route(callee, reply_to) == route


def test_a_new_consumer_adds_its_own_queue_and_changes_nothing_of_the_others() -> None:
    example = Service("example")
    subscription = Subscription("example", "order", ("submit", "chargeback"))
    extended = TOPOLOGY.including(example, (subscription,))

    whole, before = definitions(extended), definitions(TOPOLOGY)
    assert [q for q in whole["queues"] if q not in before["queues"]] == [
        q for q in whole["queues"] if q["name"].startswith("example.")
    ]
    assert [p for p in permissions(extended) if p["user"] != "example-service"] == permissions(TOPOLOGY)
    assert extended.including(example, (subscription,)) is extended  # declared twice: once
    assert TOPOLOGY.including(Service("billing"), ()) is TOPOLOGY  # the committed lines count


def test_a_services_own_definitions_are_its_exchanges_queues_and_the_bindings_into_them() -> None:
    extended = TOPOLOGY.including(
        Service("example"), (Subscription("example", "order", ("submit", "chargeback")),)
    )
    own = service_definitions("example", extended)

    assert {x["name"] for x in own["exchanges"]} == {"example", "example.retry", "example.dlx"}
    assert {q["name"] for q in own["queues"]} == {"example.order", "example.order.retry", "example.order.dlq"}
    assert {
        (b["source"], b["routing_key"]) for b in own["bindings"] if b["destination"] == "example.order"
    } == {
        ("order", "order.*.submit"),
        ("order", "order.*.chargeback"),
    }
    assert {p["name"] for p in own["policies"]} == {q["name"] for q in own["queues"]}


def test_a_worker_consumes_the_queues_of_its_apps_own_topology(monkeypatch: pytest.MonkeyPatch) -> None:
    from event_contracts.runtime import run_worker

    extended = TOPOLOGY.including(Service("example"), (Subscription("example", "order", ("submit",)),))
    app = create_app("example", broker_urls=["amqp://u:p@localhost:5672/shop"], topology=extended)
    started: list[list[str]] = []
    monkeypatch.setattr(app, "worker_main", started.append)

    run_worker(app)

    (argv,) = started
    assert argv[argv.index("--queues") + 1] == "example.order"
    assert argv[argv.index("--hostname") + 1] == "example-service@%h"
