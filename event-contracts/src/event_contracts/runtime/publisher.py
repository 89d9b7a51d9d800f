"""Publishing: persistent, confirmed, mandatory; one Celery task message per event version.

A publish returns only when the broker has confirmed it (written to a quorum of the queue's
replicas). If no queue is bound for the routing key the broker returns the message and
:class:`~event_contracts.errors.UnroutableMessage` is raised: nothing vanishes. A nack or a
lost connection is tried again by one backoff (:data:`PUBLISH_RETRY_POLICY`), each attempt on
the next node of the failover list after a connection error; if the first publish had reached
the broker, consumers see the same event id twice and drop it (see
:mod:`event_contracts.idempotency`) — a duplicate is logged, never silent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from amqp.exceptions import ChannelError, MessageNacked
from amqp.exceptions import ConnectionError as AmqpConnectionError
from celery import Celery
from kombu.exceptions import OperationalError

from event_contracts.errors import PublishFailed, UnroutableMessage
from event_contracts.event import Event, default_publisher, use_publisher
from event_contracts.service_defaults import backoff, tracing

__all__ = [
    "PUBLISH_RETRY_POLICY",
    "Publisher",
    "default_publisher",
    "publish_with_confirm",
    "task_message",
    "use_publisher",
]

log = logging.getLogger(__name__)

NO_ROUTE = 312
PUBLISH_RETRY_POLICY: Mapping[str, Any] = {
    "max_retries": 6,
    "interval_start": 0.2,
    "interval_max": 2.0,
}
"""A confirmed publish's retries: at most ``max_retries + 1`` attempts, each at most one connection
attempt (to the next node after a connection error), waits from ``interval_start`` seconds
doubling to at most ``interval_max`` (the one backoff, ``service_defaults.backoff``): 7 attempts
and 7 s of waits in all, plus each attempt's own time (a connect times out after
``broker_connection_timeout``)."""


def task_message(
    app: Celery,
    *,
    name: str,
    task_id: str,
    kwargs: Mapping[str, Any],
    headers: Mapping[str, Any],
    retries: int = 0,
    reply_to: str | None = None,
    chain: Sequence[Any] | None = None,
    args: Sequence[Any] = (),
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Celery protocol 2 headers, properties and body for a task ``name`` with ``kwargs``.

    ``chain``: the rest of a canvas chain (a request's ``chain``), carried on unchanged.
    """
    message = app.amqp.as_task_v2(
        task_id,
        name,
        args=tuple(args),
        kwargs=dict(kwargs),
        retries=retries,
        reply_to=reply_to,
        chain=list(chain) if chain else None,
        argsrepr=repr(tuple(args)),
        kwargsrepr="{...}",
    )
    message.headers.update(headers)
    return message.headers, message.properties, message.body


def publish_with_confirm(
    app: Celery,
    body: Any,
    *,
    exchange: str,
    routing_key: str,
    headers: Mapping[str, Any],
    properties: Mapping[str, Any] | None = None,
    mandatory: bool = True,
    retry: bool = True,
    **options: Any,
) -> None:
    """One confirmed publish through the app's producer pool, with failover retries.

    A nack (the broker could not take the message, e.g. while a quorum queue elects a new
    leader after a node loss) is retried like a lost connection; after the retries the caller
    gets :class:`PublishFailed` and must keep the event (an outbox row, a requeue).

    One layer retries (:data:`PUBLISH_RETRY_POLICY`): kombu's own publish retry stays off,
    because its ``Connection.ensure`` reconnects with a retry loop of its own inside its loop
    (and a pooled connection's first channel with a third), which multiplies the attempts.
    """
    on_retry = _log_retry(exchange, routing_key)
    headers = tracing.with_trace_context(headers)  # the current span (if any) is the parent

    def publish_once() -> None:
        with app.producer_or_acquire() as producer:
            connection = producer.connection
            try:
                connection.ensure_connection(max_retries=0)  # one connection attempt at most
                producer.publish(
                    body,
                    exchange=exchange,
                    routing_key=routing_key,
                    headers=dict(headers),
                    serializer="json",
                    delivery_mode=2,
                    mandatory=mandatory,
                    retry=False,
                    declare=(),
                    **dict(properties or {}),
                    **options,
                )
            except (OperationalError, *connection.recoverable_connection_errors):
                connection.maybe_switch_next()  # the next attempt fails over to the next node
                connection.collect()  # and opens a fresh connection, never this socket again
                raise

    attempts = int(PUBLISH_RETRY_POLICY["max_retries"]) + 1 if retry else 1
    publish_retrying = backoff.retrying(
        _RETRYABLE,
        what=f"publish to {exchange}/{routing_key}",
        attempts=attempts,
        first=float(PUBLISH_RETRY_POLICY["interval_start"]),
        longest=float(PUBLISH_RETRY_POLICY["interval_max"]),
        on_retry=on_retry,
    )
    try:
        publish_retrying(publish_once)
    except ChannelError as exc:
        if getattr(exc, "reply_code", None) == NO_ROUTE or "NO_ROUTE" in str(exc):
            raise UnroutableMessage(exchange, routing_key) from exc
        raise PublishFailed(f"publish to {exchange}/{routing_key} failed: {exc!r}") from exc
    except _RETRYABLE as exc:
        raise PublishFailed(
            f"publish to {exchange}/{routing_key} failed after {attempts} attempts: {exc!r}"
        ) from exc


_RETRYABLE = (MessageNacked, OSError, OperationalError, AmqpConnectionError)
"""Errors another attempt may get past: a nack (e.g. a quorum queue electing a new leader), a
lost or refused connection."""


def _log_retry(exchange: str, routing_key: str) -> Any:
    def errback(exc: BaseException, interval: float) -> None:
        log.warning(
            "publish to %s/%s failed (%s); publishing again in %.1f s "
            "(consumers drop the duplicate if the first one arrived)",
            exchange,
            routing_key,
            exc,
            interval,
        )

    return errback


class Publisher:
    """Publishes events for one service through its Celery app's connection pool."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def publish(
        self,
        event: Event[Any],
        message: Any,
        *,
        correlation_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> UUID:
        """Publish ``message`` as ``event`` (its newest version); returns the event id."""
        payload = event.encode(message)
        event_id = UUID(str(payload["event_id"]))
        self.publish_payload(
            event.routing_key,
            event.exchange,
            payload,
            event_id=event_id,
            correlation_id=correlation_id,
            headers=headers,
            occurred_at=payload.get("occurred_at"),
        )
        return event_id

    def publish_payload(
        self,
        routing_key: str,
        exchange: str,
        payload: Mapping[str, Any],
        *,
        event_id: UUID,
        correlation_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
        occurred_at: str | None = None,
    ) -> None:
        """Publish an already serialized event (what an outbox stored) under its event id."""
        extra = {"event-id": str(event_id), "correlation-id": correlation_id or str(event_id)}
        if occurred_at:
            extra["occurred-at"] = occurred_at
        extra.update(headers or {})
        msg_headers, properties, body = task_message(
            self.app,
            name=routing_key,
            task_id=str(event_id),
            kwargs={"instance": dict(payload)},
            headers=extra,
        )
        with tracing.publish_span(exchange, routing_key, str(event_id)):
            publish_with_confirm(
                self.app,
                body,
                exchange=exchange,
                routing_key=routing_key,
                headers=msg_headers,
                properties=properties,
            )
