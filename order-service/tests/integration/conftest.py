"""Integration fixtures: the service wired to a fresh vhost of a real RabbitMQ (event-contracts'
``vhost`` fixture) and to its real database (``database_url``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery import Celery
from celery.signals import task_postrun
from event_contracts import Publisher, RetryPolicy, create_app
from event_contracts.runtime import subscriptions_of
from event_contracts.testing import TestVhost, running_worker, wait_until
from flask.testing import FlaskClient

from order_service import bootstrap
from order_service.adapters.tokens import TokenVerifier
from order_service.entrypoints.consumers import subscribe
from order_service.entrypoints.flask_app import create_app as create_flask_app
from order_service.service_layer.relay import Relay
from order_service.settings import Settings
from tests.conftest import IssuerForTests

CLOSED_PORT_BROKER = "amqp://order-service:order-service@127.0.0.1:1/shop"
INVOICE_TIMEOUT = 1.0


def order_app(broker_url: str) -> Celery:
    """order-service's real Celery app, with quick private retries for tests."""
    return create_app(
        "order",
        broker_urls=[broker_url],
        worker_hijack_root_logger=False,
        shop_retry_policy=RetryPolicy(max_retries=2, first_delay=0.2),
    )


def make_services(
    database_url: str, broker_url: str, verifier: bootstrap.Verifier | None = None
) -> bootstrap.Services:
    settings = Settings(
        database_url=database_url,
        broker_urls=(broker_url,),
        invoice_timeout=INVOICE_TIMEOUT,
        readiness_timeout=1.0,
        relay_poll_interval=0.05,
        relay_backoff_start=0.2,
        relay_backoff_max=1.0,
    )
    return bootstrap.bootstrap(settings, celery_app=order_app(broker_url), verifier=verifier)


@pytest.fixture
def services(
    database_url: str, vhost: TestVhost, verifier: TokenVerifier
) -> Iterator[bootstrap.Services]:
    services = make_services(database_url, vhost.url("order-service"), verifier)
    yield services
    services.engine.dispose()


@pytest.fixture
def api(services: bootstrap.Services, dev_issuer: IssuerForTests, customer: str) -> FlaskClient:
    """Calls as ``customer`` with both roles (auth itself: tests/unit/test_auth.py)."""
    return api_client(services, dev_issuer.token(customer, "customer", "support"))


def api_client(services: bootstrap.Services, token: str) -> FlaskClient:
    client = create_flask_app(services).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@contextmanager
def relay_running(services: bootstrap.Services) -> Iterator[Relay]:
    """The outbox relay in a thread, stopped (after its current batch) on exit."""
    relay = bootstrap.build_relay(services)
    thread = threading.Thread(target=relay.run, name="relay", daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.stop()
        thread.join(30)
        assert not thread.is_alive(), "the relay did not stop"


@contextmanager
def facts_worker(services: bootstrap.Services, vhost: TestVhost) -> Iterator[list[str]]:
    """order-service's worker (real Celery app and queues) with its callbacks subscribed.

    Yields the names of the tasks it finished, in order, to wait on.
    """
    done: list[str] = []

    def finished(sender: Any = None, **_: Any) -> None:
        done.append(getattr(sender, "name", "?"))

    unsubscribe = subscribe(services.uow_factory, subscriptions_of(services.celery_app))
    task_postrun.connect(finished, weak=False)
    try:
        with running_worker(vhost, "order", app=services.celery_app):
            yield done
    finally:
        task_postrun.disconnect(finished)
        unsubscribe()


def publisher(vhost: TestVhost, service: str) -> Publisher:
    """A publisher with ``service``'s own broker user (billing publishes billing's facts)."""
    return Publisher(create_app(service, broker_urls=[vhost.url(f"{service}-service")]))


def wait_for_status(api: FlaskClient, order_id: int, status: str, timeout: float = 15) -> None:
    def reached() -> bool:
        return bool(api.get(f"/orders/{order_id}").get_json()["status"] == status)

    try:
        wait_until(reached, timeout=timeout, what=f"order {order_id} to be {status}")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; it is {api.get(f'/orders/{order_id}').get_json()}") from None


def place(api: FlaskClient, customer: str, **headers: str) -> dict[str, Any]:
    response = api.post(
        "/orders",
        json={
            "customer_id": customer,
            "currency": "EUR",
            "lines": [{"id": 1, "quantity": 2, "unit_price": "4.50"}],
        },
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


Waiter = Callable[..., Any]
