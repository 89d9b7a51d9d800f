"""One trace across the broker: the SDK's in-memory exporter and a real RabbitMQ.

A "request" span publishes an order; billing's handler (its own span, child of the publish)
publishes its fact from inside the handler, and order-service's facts worker handles that fact
in the same trace. A private retry through ``billing.order.retry`` stays in the trace too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from event_contracts import Delivery, Invoice, Order, OrderLine, Publisher, create_app
from event_contracts.service_defaults import tracing
from event_contracts.testing import TestVhost, wait_until

from .conftest import running_worker, subscribed

pytestmark = pytest.mark.integration

EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span this process finishes (tracing is set up once per process, like a service)."""
    assert tracing.configure_tracing("test", "integration", span_processor=SimpleSpanProcessor(EXPORTER))
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


def an_order(order_id: int) -> Order:
    return Order.create(
        id=order_id,
        customer_id="c-1",
        currency="EUR",
        lines=(OrderLine(id=1, quantity=2, unit_price=Decimal("4.50")),),
    )


def publisher_for(vhost: TestVhost, service: str) -> Publisher:
    return Publisher(create_app(service, broker_urls=[vhost.url(f"{service}-service")]))


def finished(exporter: InMemorySpanExporter, name: str, count: int = 1) -> list[ReadableSpan]:
    def found() -> list[ReadableSpan]:
        return [s for s in exporter.get_finished_spans() if s.name == name]

    wait_until(
        lambda: len(found()) >= count,
        timeout=20,
        what=f"{count} finished span(s) {name!r}; have {[s.name for s in exporter.get_finished_spans()]}",
    )
    return found()


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def test_an_order_is_one_trace_from_the_request_to_the_facts_worker(
    vhost: TestVhost, spans: InMemorySpanExporter
) -> None:
    billing_publisher = publisher_for(vhost, "billing")

    def bill(order: Order, delivery: Delivery) -> None:  # publishes from inside the handler
        invoice = Invoice(
            event_id=uuid.uuid4(),
            invoice_id=f"inv-{order.id}",
            order_id=order.id,
            customer_id=order.customer_id,
            currency=order.currency,
            amount=Decimal("9.00"),
            occurred_at=datetime.now(UTC),
            caused_by=delivery.event_id,
        )
        billing_publisher.publish(Invoice.invoiced, invoice, correlation_id=delivery.correlation_id)

    seen: list[Delivery] = []
    tracer = trace.get_tracer("test")
    # one worker at a time (Celery's worker optimizations are process-wide); the fact waits
    # in order.billing until order-service's worker starts
    with subscribed(Order.submit, bill), running_worker(vhost, "billing"):
        with tracer.start_as_current_span("POST /orders") as request:
            an_order(41).submit(publisher=publisher_for(vhost, "order"))
        finished(spans, "publish billing.v1.invoiced")
    with (
        subscribed(Invoice.invoiced, lambda _invoice, delivery: seen.append(delivery)),
        running_worker(vhost, "order"),
    ):
        (facts_run,) = finished(spans, "run/billing.v1.invoiced")

    (publish_order,) = finished(spans, "publish order.v2.submit")
    (billing_run,) = finished(spans, "run/order.v2.submit")
    (publish_fact,) = finished(spans, "publish billing.v1.invoiced")
    trace_id = request.get_span_context().trace_id
    chain = [publish_order, billing_run, publish_fact, facts_run]
    assert {s.context.trace_id for s in chain} == {trace_id}
    assert parent_of(publish_order) == request.get_span_context().span_id
    assert parent_of(billing_run) == publish_order.context.span_id
    assert parent_of(publish_fact) == billing_run.context.span_id
    assert parent_of(facts_run) == publish_fact.context.span_id
    assert [s.kind for s in chain] == [trace.SpanKind.PRODUCER, trace.SpanKind.CONSUMER] * 2
    # the handler sees the W3C header it was called under
    assert tracing.trace_id(seen[0].headers["traceparent"]) == f"{trace_id:032x}"


def test_a_private_retry_stays_in_the_trace(vhost: TestVhost, spans: InMemorySpanExporter) -> None:
    calls: list[int] = []

    def flaky(order: Order, delivery: Delivery) -> None:
        calls.append(delivery.retries)
        if delivery.retries == 0:
            raise ConnectionError("database restarting")

    tracer = trace.get_tracer("test")
    with subscribed(Order.submit, flaky), running_worker(vhost, "billing"):
        with tracer.start_as_current_span("POST /orders") as request:
            an_order(42).submit(publisher=publisher_for(vhost, "order"))
        first, retried = sorted(
            finished(spans, "run/order.v2.submit", count=2), key=lambda s: s.start_time or 0
        )

    assert calls == [0, 1]
    trace_id = request.get_span_context().trace_id
    assert first.context.trace_id == retried.context.trace_id == trace_id
    # the retry was published from the failed attempt's span, through billing.order.retry
    assert parent_of(retried) == first.context.span_id
