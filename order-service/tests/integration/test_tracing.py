"""The edge's trace reaches the broker: POST /orders → outbox row → the relay's publish.

Tracing in its default mode (no exporter: the context propagates, spans are sampled out), the
Flask app instrumented as gunicorn's factory does it.
"""

from __future__ import annotations

import pytest
from event_contracts.service_defaults import tracing
from event_contracts.testing import TestVhost, drain, wait_until
from sqlalchemy import select

from order_service import bootstrap
from order_service.adapters import orm
from order_service.entrypoints.flask_app import create_app
from tests.conftest import IssuerForTests
from tests.integration.conftest import relay_running

pytestmark = pytest.mark.integration


def test_the_edge_answers_its_trace_id_and_every_event_of_the_order_carries_it(
    services: bootstrap.Services, vhost: TestVhost, dev_issuer: IssuerForTests, customer: str
) -> None:
    assert tracing.configure_tracing("order-service", "test", environ={})
    api = tracing.instrument_flask(create_app(services)).test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + dev_issuer.token(customer, "customer")

    line = {"id": 1, "quantity": 1, "unit_price": "2.00"}
    response = api.post("/orders", json={"currency": "EUR", "lines": [line]})
    assert response.status_code == 201, response.get_json()
    trace_id = tracing.trace_id(response.headers.get(tracing.RESPONSE_HEADER))
    assert trace_id, f"no {tracing.RESPONSE_HEADER} header: {dict(response.headers)}"

    with services.engine.connect() as connection:
        (stored,) = connection.execute(select(orm.outbox.c.trace_context)).scalars()
    assert tracing.trace_id(stored["traceparent"]) == trace_id

    with relay_running(services) as relay:
        wait_until(lambda: relay.published_total == 1, timeout=20, what="the relay to publish")
    for queue in ("billing.order", "logistic.order"):
        (message,) = drain(vhost.url(), queue, expect=1)
        assert tracing.trace_id(message.headers["traceparent"]) == trace_id, queue
