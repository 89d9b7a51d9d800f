"""The facts worker (order-service's real Celery app and queues) against a real broker."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from event_contracts import Invoice, Shipment
from event_contracts.serialization import CurrencyCode, Money, utc_now
from event_contracts.testing import TestVhost, drain, wait_until
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from order_service import bootstrap
from order_service.adapters import orm
from order_service.entrypoints.worker import schedule_purge
from tests.integration.conftest import facts_worker, place, publisher, wait_for_status

pytestmark = pytest.mark.integration


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


def processed(services: bootstrap.Services) -> int:
    with services.engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(orm.inbox.processed)).scalar_one()
        )


def test_invoiced_and_dispatched_facts_make_the_order_dispatched(
    services: bootstrap.Services,
    api: FlaskClient,
    vhost: TestVhost,
    customer: str,
) -> None:
    order_id = place(api, customer)["id"]
    billing, logistic = publisher(vhost, "billing"), publisher(vhost, "logistic")
    with facts_worker(services, vhost):
        logistic.publish(Shipment.dispatched, shipment(order_id))  # before the invoice
        billing.publish(Invoice.invoiced, invoice(order_id))
        wait_for_status(api, order_id, "dispatched")
    body = api.get(f"/orders/{order_id}").get_json()
    assert body["invoiced"] and body["dispatched"]


def test_a_duplicate_fact_is_handled_once(
    services: bootstrap.Services,
    api: FlaskClient,
    vhost: TestVhost,
    customer: str,
) -> None:
    order_id = place(api, customer)["id"]
    billing, logistic = publisher(vhost, "billing"), publisher(vhost, "logistic")
    fact = invoice(order_id)
    with facts_worker(services, vhost) as done:
        billing.publish(Invoice.invoiced, fact)
        logistic.publish(Shipment.dispatched, shipment(order_id))
        wait_for_status(api, order_id, "dispatched")
        wait_until(lambda: len(done) == 2, timeout=10, what="two facts handled")
        before = api.get(f"/orders/{order_id}").get_json()

        billing.publish(Invoice.invoiced, fact)  # the same event id again (a redelivery)
        wait_until(lambda: len(done) == 3, timeout=10, what="the duplicate to be handled")

    assert api.get(f"/orders/{order_id}").get_json() == before  # not even updated_at moved
    assert processed(services) == 2


@pytest.mark.parametrize("final", ["cancelled", "returned"])
def test_chargeback_facts_end_the_order(
    services: bootstrap.Services,
    api: FlaskClient,
    vhost: TestVhost,
    customer: str,
    final: str,
) -> None:
    shipment_event = Shipment.cancelled if final == "cancelled" else Shipment.returned
    order_id = place(api, customer)["id"]
    assert api.post(f"/orders/{order_id}/chargeback").status_code == 202
    billing, logistic = publisher(vhost, "billing"), publisher(vhost, "logistic")
    with facts_worker(services, vhost):
        billing.publish(Invoice.invoiced, invoice(order_id))
        logistic.publish(shipment_event, shipment(order_id))
        billing.publish(Invoice.refunded, invoice(order_id))
        wait_for_status(api, order_id, final)


def test_a_fact_about_an_unknown_order_is_dead_lettered_with_the_reason(
    services: bootstrap.Services,
    api: FlaskClient,
    vhost: TestVhost,
    customer: str,
) -> None:
    order_id = place(api, customer)["id"]
    billing = publisher(vhost, "billing")
    with facts_worker(services, vhost):
        billing.publish(Invoice.invoiced, invoice(9_000_000_123))
        billing.publish(Invoice.invoiced, invoice(order_id))  # good facts keep flowing
        wait_for_status(api, order_id, "invoiced")
        (letter,) = drain(vhost.url(), "order.billing.dlq", expect=1)
    assert letter.headers["x-dead-letter-reason"] == "rejected-by-handler"
    assert "order 9000000123 does not exist" in letter.headers["x-dead-letter-detail"]
    assert processed(services) == 1


def test_the_worker_purges_what_left_the_dedupe_window(
    services: bootstrap.Services,
    api: FlaskClient,
    vhost: TestVhost,
    customer: str,
) -> None:
    services.settings = services.settings.model_copy(
        update={
            "inbox_retention_seconds": timedelta(hours=1).total_seconds(),
            "inbox_purge_every_seconds": timedelta(seconds=0.1).total_seconds(),
        }
    )
    old_order, new_order = (place(api, customer, **{"Idempotency-Key": k})["id"] for k in "on")
    old_fact, new_fact = invoice(old_order), invoice(new_order)
    billing = publisher(vhost, "billing")
    with facts_worker(services, vhost):
        billing.publish(Invoice.invoiced, old_fact)
        billing.publish(Invoice.invoiced, new_fact)
        wait_for_status(api, old_order, "invoiced")
        wait_for_status(api, new_order, "invoiced")
    two_hours_ago = utc_now() - timedelta(hours=2)
    inbox, keys = orm.inbox, orm.idempotency_keys
    with services.engine.begin() as connection:
        connection.execute(
            update(inbox.processed)
            .where(inbox.processed.c.dedupe_key == f"order:{old_fact.event_id}")
            .values(processed_at=two_hours_ago)
        )
        connection.execute(
            update(inbox.admissions)
            .where(inbox.admissions.c.dedupe_key == f"order:{old_fact.event_id}")
            .values(admitted_at=two_hours_ago)
        )
        connection.execute(update(keys).where(keys.c.key == "o").values(created_at=two_hours_ago))

    def remembered() -> tuple[set[str], set[str], set[str]]:
        with services.engine.connect() as connection:
            return (
                set(connection.execute(select(inbox.processed.c.dedupe_key)).scalars()),
                set(connection.execute(select(inbox.admissions.c.dedupe_key)).scalars()),
                set(connection.execute(select(keys.c.key)).scalars()),
            )

    new_key = f"order:{new_fact.event_id}"
    schedule_purge(services)
    with facts_worker(services, vhost):
        wait_until(
            lambda: remembered() == ({new_key}, {new_key}, {"n"}),
            timeout=10,
            what="the worker to purge the records older than the window, and only those",
        )
