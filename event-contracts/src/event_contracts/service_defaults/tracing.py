"""Traces: the OpenTelemetry setup every service process calls, and W3C trace context on AMQP.

One order is one trace, across every process it passes through::

    edge "POST /orders" ──▶ outbox row (its traceparent stored) ──▶ relay "publish order.v2.submit"
      ├─▶ billing  "run/order.v2.submit" ──▶ "publish billing.v1.invoiced" ──▶ order "run/billing.v1.invoiced"
      └─▶ logistic "run/order.v2.submit" ──▶ pick ──▶ pack ──▶ dispatch
                                    ──▶ "publish logistic.v1.shipment_dispatched" ──▶ order "run/logistic..."

The context travels in the AMQP headers ``traceparent`` / ``tracestate`` (W3C Trace Context);
a private retry, a dead letter and its replay carry it on. The edge answers with
``traceresponse: 00-<trace id>-<span id>-<flags>`` (W3C Trace Context Level 2).

Configured by the standard variables only (the SDK reads the rest itself: ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER[_ARG]``, ``OTEL_BSP_*``, ``OTEL_EXPORTER_OTLP_*``):

* ``OTEL_SDK_DISABLED=true``: nothing at all; no spans, no headers, no instrumentation.
* ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) set: every span is recorded and
  exported over OTLP/HTTP in batches (the gRPC exporter is not fork-safe), database spans too.
* neither (the default, and offline): the context still flows (trace ids in every event's
  headers and in the edge's answer) but spans are sampled out: non-recording, no attributes,
  no database spans, nothing exported. ``OTEL_TRACES_SAMPLER`` overrides that choice.

Forks: the SDK's batch processor runs a thread, so a process configures tracing after it was
forked (gunicorn ``post_fork``, Celery ``worker_process_init``; :func:`trace_celery_worker` does
the Celery part) and flushes on its way out (:func:`shutdown_tracing`: gunicorn ``worker_exit``,
``worker_process_shutdown``), or the spans of a recycled pool child are lost.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

log = logging.getLogger(__name__)

TRACE_HEADERS = ("traceparent", "tracestate")
"""The W3C Trace Context headers, in AMQP application headers as in HTTP."""
RESPONSE_HEADER = "traceresponse"
"""The edge's answer names the request's trace: ``00-<32 hex trace id>-<16 hex span id>-<flags>``."""
EXCLUDED_URLS = "healthz,readyz,metrics"
"""HTTP paths that start no trace (probes, scrapes)."""

_lock = threading.Lock()
_configured_pid: int | None = None
_provider: TracerProvider | None = None
_recording = False
_engines: weakref.WeakSet[Any] = weakref.WeakSet()
EngineT = TypeVar("EngineT")
AppT = TypeVar("AppT")


def _flag(name: str, environ: Mapping[str, str]) -> bool:
    return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def sdk_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    """``OTEL_SDK_DISABLED``: tracing is off altogether."""
    return _flag("OTEL_SDK_DISABLED", environ)


def exporting(environ: Mapping[str, str] = os.environ) -> bool:
    """An OTLP endpoint is configured (and the SDK is not disabled): spans are exported."""
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return bool((endpoint or "").strip()) and not sdk_disabled(environ)


def configure_tracing(
    service: str,
    role: str = "",
    *,
    span_processor: SpanProcessor | None = None,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Set up tracing for this process (once; again after a fork); True when it is on.

    ``service``: ``service.name`` unless ``OTEL_SERVICE_NAME`` says otherwise; ``role``: which
    process of the service this is (edge, relay, worker, beat). ``span_processor``: an extra
    processor (tests pass an in-memory exporter's), which also makes every span recorded.
    """
    global _configured_pid, _provider, _recording  # noqa: PLW0603 - one setup per process
    with _lock:
        if _configured_pid == os.getpid():
            return _provider is not None
        _configured_pid = os.getpid()
        if sdk_disabled(environ):
            _provider, _recording = None, False
            log.info("tracing off (OTEL_SDK_DISABLED)")
            return False
        export = exporting(environ)
        _recording = export or span_processor is not None
        _provider = _tracer_provider(service, role, environ, recording=_recording)
        if export:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        if span_processor is not None:
            _provider.add_span_processor(span_processor)
        _instrument(_provider)
        log.info(
            "tracing on for %s %s: %s",
            service,
            role,
            "spans exported over OTLP/HTTP" if export else "context propagated, spans not exported",
        )
        return True


def _tracer_provider(
    service: str, role: str, environ: Mapping[str, str], *, recording: bool
) -> TracerProvider:
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):  # set before a fork: the SDK re-arms it in the child
        return current
    attributes: dict[str, str] = {"service.namespace": "shop"}
    if role:
        attributes["shop.process.role"] = role
    if not environ.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = service
    sampler = (
        None if environ.get("OTEL_TRACES_SAMPLER") else ParentBased(ALWAYS_ON if recording else ALWAYS_OFF)
    )
    provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler)
    trace.set_tracer_provider(provider)
    return provider


def _instrument(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.propagators import (
        TraceResponsePropagator,
        set_global_response_propagator,
    )

    set_global_response_propagator(TraceResponsePropagator())
    celery = CeleryInstrumentor()
    if not celery.is_instrumented_by_opentelemetry:
        celery.instrument(tracer_provider=provider)
    if _recording and _engines:
        _instrument_engines()


def tracing_active() -> bool:
    """This process configured tracing (and it is not disabled)."""
    return _provider is not None and _configured_pid == os.getpid()


def shutdown_tracing() -> None:
    """Export what is still buffered, then stop (a process or pool child on its way out)."""
    global _configured_pid, _provider  # noqa: PLW0603
    with _lock:
        provider, _provider = (_provider, None) if _configured_pid == os.getpid() else (None, _provider)
        _configured_pid = None
    if provider is not None:
        provider.shutdown()


def trace_engine(engine: EngineT) -> EngineT:
    """Database spans for ``engine`` (SQLAlchemy) whenever spans are recorded; returns it.

    Call it for every engine a service makes, before or after :func:`configure_tracing`.
    """
    with _lock:
        _engines.add(engine)
        if _recording and tracing_active():
            _instrument_engines()
    return engine


def _instrument_engines() -> None:
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:  # once per process: all engines at once
        instrumentor.uninstrument()
    instrumentor.instrument(engines=list(_engines), tracer_provider=_provider)


def instrument_flask(app: AppT) -> AppT:
    """Request spans for a Flask app (routes as span names, ``traceresponse`` in every answer)."""
    if tracing_active():
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        FlaskInstrumentor().instrument_app(app, tracer_provider=_provider, excluded_urls=EXCLUDED_URLS)
    return app


def trace_celery_worker(service: str, role: str = "worker") -> None:
    """Configure tracing in each process of a Celery worker that runs tasks, flush on exit.

    Prefork: in every pool child (``worker_process_init``), never in the parent, flushed by
    ``worker_process_shutdown`` (a recycled child keeps its spans). Other pools: the worker
    process itself (``worker_init``), flushed by ``worker_shutdown``.
    """
    from celery.signals import worker_init, worker_process_init, worker_process_shutdown, worker_shutdown

    def in_child(**_: Any) -> None:
        configure_tracing(service, role)

    def in_worker(sender: Any = None, **_: Any) -> None:
        pool = getattr(sender, "pool_cls", None)
        if "prefork" not in f"{getattr(pool, '__module__', '')}{pool}":
            configure_tracing(service, role)

    def flush(**_: Any) -> None:
        shutdown_tracing()

    worker_process_init.connect(in_child, weak=False, dispatch_uid="shop-tracing-child")
    worker_process_shutdown.connect(flush, weak=False, dispatch_uid="shop-tracing-child-exit")
    worker_init.connect(in_worker, weak=False, dispatch_uid="shop-tracing-worker")
    worker_shutdown.connect(flush, weak=False, dispatch_uid="shop-tracing-worker-exit")


def trace_celery_beat(service: str) -> None:
    """Configure tracing in a beat process (its periodic publishes start traces)."""
    from celery.signals import beat_init

    def on_init(**_: Any) -> None:
        configure_tracing(service, "beat")

    beat_init.connect(on_init, weak=False, dispatch_uid="shop-tracing-beat")


def with_trace_context(headers: Mapping[str, Any]) -> Mapping[str, Any]:
    """``headers`` plus the current span's ``traceparent``/``tracestate`` (when there is one)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return headers
    carrier: dict[str, Any] = dict(headers)
    propagate.inject(carrier)
    return carrier


def current_carrier() -> dict[str, str] | None:
    """The current trace context as headers, to store with something published later (outbox)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {k: v for k, v in carrier.items() if k in TRACE_HEADERS} or None


@contextmanager
def continued(carrier: Mapping[str, Any] | None) -> Iterator[None]:
    """Run the block inside the trace ``carrier`` names (an outbox row's stored context)."""
    if not carrier:
        yield
        return
    token = otel_context.attach(propagate.extract({k: str(v) for k, v in carrier.items()}))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def publish_span(exchange: str, routing_key: str, message_id: str) -> Iterator[None]:
    """A producer span around one publish; the headers published inside it name it as parent."""
    tracer = trace.get_tracer("event_contracts")
    with tracer.start_as_current_span(f"publish {routing_key}", kind=trace.SpanKind.PRODUCER) as span:
        if span.is_recording():
            span.set_attributes(
                {
                    "messaging.system": "rabbitmq",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": exchange,
                    "messaging.rabbitmq.destination.routing_key": routing_key,
                    "messaging.message.id": message_id,
                }
            )
        yield


def trace_id(traceparent: str | None) -> str | None:
    """The 32-hex trace id of a ``traceparent`` (or ``traceresponse``) value, if well formed."""
    parts = (traceparent or "").split("-")
    if len(parts) != 4 or len(parts[1]) != 32:
        return None
    return parts[1]
