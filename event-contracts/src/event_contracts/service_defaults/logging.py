"""One log line format for every service and process, configured once.

Every line carries ``service`` and ``role`` (``order-service``/``edge``, ``billing-service``/
``worker``...) and, where known: ``correlation_id``, ``event_id``, ``order_id``, ``task_id``
(inside a Celery task, from its message's headers and payload), ``trace_id`` (when
OpenTelemetry has a current span) and whatever the code bound with :func:`bind` (the edge binds
the request's ``X-Correlation-ID``).

``LOG_FORMAT=json`` writes one JSON object per line (python-json-logger); the default ``text``
is ``<time> <LEVEL> <service>/<role> <logger>: <message> key=value ...``. ``LOG_LEVEL`` sets
the level (INFO; a worker's per-message "received" lines only at DEBUG: :data:`RECEIPT_LOGGER`).

Entry points call :func:`configure` first; gunicorn takes :func:`dict_config` as its
``logconfig_dict`` (its own error and access lines then pass through the same handler); a Celery
worker or beat calls :func:`configure_celery`, which also stops Celery from installing its own
format (in the main process and in every pool child).
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import os
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from pythonjsonlogger.json import JsonFormatter

FORMAT_ENV = "LOG_FORMAT"
LEVEL_ENV = "LOG_LEVEL"
RECEIPT_LOGGER = "celery.worker.strategy"
"""Celery's "Task <name>[<id>] received" line, one per message, logged only at ``LOG_LEVEL=DEBUG``:
it is written before the task runs, so without the context fields, and the outcome line
("succeeded in", a retry, a failure) names the task again with them; at INFO it was about 6% of
a worker's CPU (docs/performance.md)."""
CONTEXT_FIELDS = ("correlation_id", "event_id", "order_id", "task_id", "trace_id")
"""Optional fields, in the order the text format prints them."""

_NOTHING_BOUND: Mapping[str, str] = MappingProxyType({})
_bound: ContextVar[Mapping[str, str]] = ContextVar("shop_log_context", default=_NOTHING_BOUND)


@contextlib.contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Add fields to every line logged inside the block (this thread or task only)."""
    token = _bound.set({**_bound.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _bound.reset(token)


class ContextFilter(logging.Filter):
    """Puts ``service``, ``role`` and the known context fields on every record."""

    def __init__(self, service: str = "", role: str = "") -> None:
        super().__init__()
        self.service, self.role = service, role

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.role = self.role
        fields = {**_celery_task_fields(), **_bound.get()}
        trace_id = _trace_id()
        if trace_id:
            fields.setdefault("trace_id", trace_id)
        for name, value in fields.items():
            if value and not getattr(record, name, None):
                setattr(record, name, value)
        return True


def _celery_task_fields() -> dict[str, str]:
    """The running Celery task's id, correlation id and event id (its message headers)."""
    celery_state = sys.modules.get("celery._state")
    if celery_state is None:
        return {}
    task = celery_state.get_current_task()
    if task is None:
        return {}
    request = task.request
    task_id = getattr(request, "id", None)
    if not task_id:
        return {}
    return {
        "task_id": str(task_id),
        "correlation_id": str(getattr(request, "correlation-id", None) or ""),
        "event_id": str(getattr(request, "event-id", None) or ""),
        "order_id": _order_id(str(getattr(task, "name", "")), getattr(request, "kwargs", None)),
    }


def _order_id(task_name: str, kwargs: Any) -> str:
    """The order an event is about: ``order_id`` in a fact, ``id`` in an order's own event."""
    payload = kwargs.get("instance") if isinstance(kwargs, Mapping) else None
    if not isinstance(payload, Mapping):
        return ""
    value = payload.get("order_id", payload.get("id") if task_name.startswith("order.") else None)
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else ""


def _trace_id() -> str:
    """The current OpenTelemetry trace id (32 hex), when tracing is installed and active."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return ""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else ""


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <service>/<role> <logger>: <message> key=value ...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(service)s/%(role)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        for name in ("service", "role"):
            if not hasattr(record, name):
                setattr(record, name, "-")
        line = super().format(record)
        extra = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if getattr(record, k, None))
        if not extra:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the fields
        return f"{head} {extra}{newline}{rest}"


def json_formatter() -> logging.Formatter:
    """One JSON object per line: time, level, logger, message, service, role and the context."""
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(role)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


def dict_config(
    service: str, role: str, *, json: bool | None = None, level: str | None = None
) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` document: one stdout handler on the root logger with
    the format and the context filter; gunicorn's loggers propagate to it."""
    if json is None:
        json = os.environ.get(FORMAT_ENV, "text").strip().lower() == "json"
    level = (level or os.environ.get(LEVEL_ENV) or "INFO").upper()
    formatter = f"{__name__}.json_formatter" if json else f"{__name__}.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": f"{__name__}.ContextFilter", "service": service, "role": role}},
        "formatters": {"shop": {"()": formatter}},
        "handlers": {
            "shop": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "shop",
                "filters": ["context"],
            }
        },
        "root": {"level": level, "handlers": ["shop"]},
        "loggers": {
            **{
                name: {"level": level, "handlers": [], "propagate": True}
                for name in ("gunicorn.error", "gunicorn.access", "celery")
            },
            RECEIPT_LOGGER: {
                "level": "DEBUG" if level == "DEBUG" else "WARNING",
                "handlers": [],
                "propagate": True,
            },
        },
    }


def configure(service: str, role: str, **options: Any) -> None:
    """Configure this process's logging (idempotent: it replaces the root handler)."""
    logging.config.dictConfig(dict_config(service, role, **options))


def configure_celery(service: str, role: str) -> None:
    """:func:`configure`, and keep it: Celery configures logging itself (its own format, in the
    main process and again in each pool child) unless ``setup_logging`` has a receiver."""
    from celery.signals import setup_logging

    def keep_ours(**_: Any) -> None:
        configure(service, role)

    setup_logging.connect(keep_ours, weak=False)
    configure(service, role)


def instrument_flask(app: Any, header: str = "X-Correlation-ID") -> None:
    """Bind each request's correlation id (its ``header``, when sent) to its log lines."""
    from flask import g, request

    def bind_request() -> None:
        value = request.headers.get(header, "")[:200]
        if value:
            g.shop_log_token = _bound.set({**_bound.get(), "correlation_id": value})

    app.before_request(bind_request)

    def unbind_request(_: BaseException | None) -> None:
        token = g.pop("shop_log_token", None)
        if token is not None:
            _bound.reset(token)

    app.teardown_request(unbind_request)
