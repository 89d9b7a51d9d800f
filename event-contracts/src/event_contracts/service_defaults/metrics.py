"""Prometheus metrics every service exports, defined once (prometheus-client).

What is measured, and where it is recorded::

    shop_http_request_duration_seconds{method,route,status}     the edge (instrument_flask)
    shop_outbox_backlog_rows                                     the relay's sampler
    shop_outbox_oldest_unpublished_age_seconds                   (contract of OutboxFallingBehind)
    shop_outbox_parked_rows                                      (contract of OutboxRowParked)
    shop_relay_publish_duration_seconds{outcome}                 each relay publish
    shop_handler_duration_seconds{event,version,outcome}         the runtime's one dispatch path
    shop_handler_outcomes_total{event,version,outcome,reason}    (event_contracts.runtime.consumer)
    shop_rpc_duration_seconds{call,outcome}                      every RpcClient call
    shop_rpc_timeouts_total{call}
    shop_order_placed_to_dispatched_seconds                      order-service's facts worker

No metric carries a ``service`` label: Prometheus adds the target's ``service`` and ``role``
(infra/prometheus/targets/services.yml), and a label of the same name in the scraped data would
be renamed ``exported_service``.

Processes. gunicorn workers and Celery's prefork children are separate processes; with
``PROMETHEUS_MULTIPROC_DIR`` set (the images set it) each writes its values to files there, and
the one HTTP listener (the gunicorn master, the worker's main process, the relay) adds them up
at each scrape. The main process empties the directory when it starts (:func:`prepare`, before
any value exists) and a process that ends is marked dead (gunicorn ``child_exit``, Celery
``worker_process_shutdown``). Metrics are created on first use, never at import, so that no
value file is opened before the directory was emptied.

The listener is ``METRICS_PORT`` (9100 in the images): a port of its own, never the edge's
public one. Without ``METRICS_PORT`` nothing listens (tests, a developer's shell).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import attrs
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import REGISTRY

from event_contracts.errors import RemoteCallError, RemoteCallTimeout
from event_contracts.topology import RoutingKey

log = logging.getLogger(__name__)

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
PORT_ENV = "METRICS_PORT"

FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds: a publish or a handler takes milliseconds; a retried handler or a timed out call up
to seconds."""

ORDER_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Seconds from an order's creation to its dispatch: about a second on an idle shop (relay,
billing, logistic's three-step chain), minutes behind a backlog, longer while a consumer is down."""

HANDLED, DUPLICATE, RETRIED, DEAD_LETTERED, FAILED = (
    "handled",
    "duplicate",
    "retried",
    "dead-lettered",
    "failed",
)
"""A handler's outcomes: ran its effect; dropped as a duplicate by the inbox; sent to its retry
queue; dead-lettered (with the reason); raised without either (the broker's own DLX keeps it)."""


@attrs.frozen
class Metrics:
    http_request_seconds: Histogram
    outbox_backlog: Gauge
    outbox_oldest_age: Gauge
    outbox_parked: Gauge
    relay_publish_seconds: Histogram
    handler_seconds: Histogram
    handler_outcomes: Counter
    rpc_seconds: Histogram
    rpc_timeouts: Counter
    order_placed_to_dispatched_seconds: Histogram


@cache
def metrics() -> Metrics:
    """The process's metrics, created on first use (see the module docstring)."""
    directory = multiprocess_dir()
    if directory is not None:  # a process that never called prepare() (a one-off command)
        directory.mkdir(parents=True, exist_ok=True)
    return Metrics(
        http_request_seconds=Histogram(
            "shop_http_request_duration_seconds",
            "HTTP requests the edge answered, by route template, method and status.",
            ["method", "route", "status"],
            buckets=FAST_BUCKETS,
        ),
        outbox_backlog=Gauge(
            "shop_outbox_backlog_rows",
            "Outbox rows not yet published (parked rows included).",
            multiprocess_mode="mostrecent",
        ),
        outbox_oldest_age=Gauge(
            "shop_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest outbox row not yet published, parked rows excluded; 0 when none.",
            multiprocess_mode="mostrecent",
        ),
        outbox_parked=Gauge(
            "shop_outbox_parked_rows",
            "Outbox rows the relay set aside as unpublishable, waiting for an operator.",
            multiprocess_mode="mostrecent",
        ),
        relay_publish_seconds=Histogram(
            "shop_relay_publish_duration_seconds",
            "One confirmed publish of an outbox row, by outcome (published, refused, unreachable).",
            ["outcome"],
            buckets=FAST_BUCKETS,
        ),
        handler_seconds=Histogram(
            "shop_handler_duration_seconds",
            "Handling one delivery of an event, by event, version and outcome.",
            ["event", "version", "outcome"],
            buckets=FAST_BUCKETS,
        ),
        handler_outcomes=Counter(
            "shop_handler_outcomes",
            "Deliveries by event, version, outcome and (dead letters) reason.",
            ["event", "version", "outcome", "reason"],
        ),
        rpc_seconds=Histogram(
            "shop_rpc_duration_seconds",
            "Synchronous calls to another service, by call and outcome (ok, error, timeout, failed).",
            ["call", "outcome"],
            buckets=FAST_BUCKETS,
        ),
        rpc_timeouts=Counter(
            "shop_rpc_timeouts",
            "Synchronous calls that got no answer within their timeout.",
            ["call"],
        ),
        order_placed_to_dispatched_seconds=Histogram(
            "shop_order_placed_to_dispatched_seconds",
            "From an order's creation to its shipment's dispatch, once per dispatched order.",
            buckets=ORDER_BUCKETS,
        ),
    )


# --- processes and the listener -------------------------------------------------------------------


def multiprocess_dir() -> Path | None:
    raw = os.environ.get(MULTIPROC_DIR_ENV, "").strip()
    return Path(raw) if raw else None


def prepare() -> None:
    """In the main process, before any worker starts: an empty ``PROMETHEUS_MULTIPROC_DIR``.

    Files left by an earlier run of the container (a restart keeps ``/tmp``) would be added to
    this run's values."""
    directory = multiprocess_dir()
    if directory is None:
        return
    if directory.exists():
        for child in directory.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def registry() -> CollectorRegistry:
    """What a scrape reads: every process's files in multiprocess mode, else this process."""
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected, path=str(directory))  # type: ignore[no-untyped-call]
    return collected


def serve(port: int | None = None) -> int | None:
    """Start the ``/metrics`` listener in this process (a daemon thread) on ``METRICS_PORT``.

    Returns the port, or None when no port is configured."""
    if port is None:
        raw = os.environ.get(PORT_ENV, "").strip()
        if not raw:
            return None
        port = int(raw)
    server, _ = start_http_server(port, addr=os.environ.get("METRICS_ADDR", "0.0.0.0"), registry=registry())
    bound = int(server.server_address[1])
    log.info("metrics on :%d/metrics", bound)
    return bound


def mark_process_dead(pid: int | None = None) -> None:
    """A gunicorn worker or pool child ended: its live gauges no longer count."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


# --- the edge ------------------------------------------------------------------------------------


def instrument_flask(app: Any) -> None:
    """Time every request of a Flask app, labelled by its route template (``/orders/<int:...>``),
    not its path: one series per route, whatever the ids."""
    from flask import Response, g, request

    def started() -> None:
        g.shop_request_started = time.perf_counter()

    app.before_request(started)

    def finished(response: Response) -> Response:
        began = g.pop("shop_request_started", None)
        if began is not None:
            route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
            metrics().http_request_seconds.labels(request.method, route, str(response.status_code)).observe(
                time.perf_counter() - began
            )
        return response

    app.after_request(finished)


# --- the outbox ----------------------------------------------------------------------------------


def set_outbox(backlog: int, oldest_age_seconds: float, parked: int) -> None:
    m = metrics()
    m.outbox_backlog.set(backlog)
    m.outbox_oldest_age.set(max(0.0, oldest_age_seconds))
    m.outbox_parked.set(parked)


def observe_relay_publish(outcome: str, seconds: float) -> None:
    metrics().relay_publish_seconds.labels(outcome).observe(seconds)


# --- handlers ------------------------------------------------------------------------------------


@attrs.define
class _Handling:
    outcome: str = HANDLED
    reason: str = ""


_handling: ContextVar[_Handling | None] = ContextVar("shop_handling", default=None)


def event_labels(name: str) -> tuple[str, str]:
    """``order.v2.submit`` → (``order.submit``, ``v2``); anything else → (name, "")."""
    try:
        key = RoutingKey.parse(name)
    except ValueError:
        return name, ""
    return f"{key.service}.{key.event}", f"v{key.version}"


@contextlib.contextmanager
def observe_handler(routing_key: str) -> Iterator[None]:
    """Time one delivery's handling and count its outcome (the runtime's dispatch path).

    The outcome is ``handled`` unless something inside said otherwise: the inbox
    (:func:`note_duplicate`), a private retry (:func:`note_retried`), a dead letter
    (:func:`note_dead_lettered`); an exception nobody noted is ``failed``."""
    event, version = event_labels(routing_key)
    handling = _Handling()
    token = _handling.set(handling)
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        if handling.outcome in (HANDLED, DUPLICATE):
            handling.outcome, handling.reason = FAILED, ""
        raise
    finally:
        _handling.reset(token)
        m = metrics()
        m.handler_seconds.labels(event, version, handling.outcome).observe(time.perf_counter() - started)
        m.handler_outcomes.labels(event, version, handling.outcome, handling.reason).inc()


def note_duplicate() -> None:
    """The inbox dropped the delivery: its effect was applied before."""
    handling = _handling.get()
    if handling is not None and handling.outcome == HANDLED:
        handling.outcome = DUPLICATE


def note_retried() -> None:
    handling = _handling.get()
    if handling is not None:
        handling.outcome, handling.reason = RETRIED, ""


def note_dead_lettered(reason: str) -> None:
    handling = _handling.get()
    if handling is not None:
        handling.outcome, handling.reason = DEAD_LETTERED, reason


def count_rejected_message(task_name: str, reason: str) -> None:
    """A delivery dead-lettered before any handler ran (undecodable, unknown version...)."""
    event, version = event_labels(task_name or "unknown")
    metrics().handler_outcomes.labels(event, version, DEAD_LETTERED, reason).inc()


# --- remote calls --------------------------------------------------------------------------------


@contextlib.contextmanager
def observe_call(call: str) -> Iterator[None]:
    """Time one synchronous call: ``ok``, ``error`` (an error answer), ``timeout``, ``failed``."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except RemoteCallTimeout:
        outcome = "timeout"
        metrics().rpc_timeouts.labels(call).inc()
        raise
    except RemoteCallError:
        outcome = "error"
        raise
    except BaseException:
        outcome = "failed"
        raise
    finally:
        metrics().rpc_seconds.labels(call, outcome).observe(time.perf_counter() - started)


# --- orders --------------------------------------------------------------------------------------


def observe_order_dispatched(placed_at: datetime, dispatched_at: datetime) -> None:
    """An order was dispatched: the time from its creation (order-service's clock, stored with
    the order) to the dispatch (logistic's ``occurred-at``). Naive datetimes are UTC (SQLite
    keeps no zone); clocks a little apart count as 0, never negative."""
    seconds = (_aware(dispatched_at) - _aware(placed_at)).total_seconds()
    metrics().order_placed_to_dispatched_seconds.observe(max(0.0, seconds))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
