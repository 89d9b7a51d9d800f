"""Consuming: every version finds its handler, failures retry privately, poison is dead-lettered.

What a delivery goes through in a service's worker::

    queue billing.order ──▶ ShopConsumer ─┬─ not JSON / not a task / unknown version ──▶ DLQ + reason
                                          └─▶ task "order.vN.submit" (one per version)
                                                 ├─ payload fails the vN schema ─────────▶ DLQ + reason
                                                 ├─ upcast to newest, run callbacks ───▶ ack
                                                 ├─ callback raises, retries left ─────▶ billing.order.retry
                                                 │      (TTL = backoff, then back into billing.order only)
                                                 └─ retries exhausted / PoisonMessage ──▶ DLQ + reason

Retries never go through the topic exchange (which would hand the event to every other consumer
again) and never use Celery's native delayed delivery. Dead-lettering publishes a copy with
``x-dead-letter-reason`` / ``x-dead-letter-detail`` headers to ``<service>.dlx`` (confirmed) and
then acks; if even that fails the message is rejected, and the queue's own dead-letter settings
still keep it (``x-death``). Nothing is acked away silently.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import attrs
from celery import Celery, Task, bootsteps
from celery.exceptions import Reject, Retry
from celery.worker.consumer import Consumer
from celery.worker.request import Request
from kombu.message import Message

from event_contracts.delivery import Delivery
from event_contracts.errors import ContractError, PoisonMessage
from event_contracts.event import EVENTS, Envelope, Event
from event_contracts.rpc import REMOTE_CALLS, NotFound, RemoteCall
from event_contracts.runtime.conf import service_of, subscriptions_of, topology_of
from event_contracts.runtime.publisher import publish_with_confirm, task_message
from event_contracts.runtime.task_events import FLUSH_SECONDS
from event_contracts.serialization import structure, unstructure, utc_now
from event_contracts.service_defaults import metrics
from event_contracts.subscriptions import Subscriptions
from event_contracts.topology import RoutingKey, Topology

log = logging.getLogger(__name__)

DETAIL_LIMIT = 4000
PASSED_ON_HEADERS = (
    "event-id",
    "correlation-id",
    "occurred-at",
    "actor-subject",
    "actor-token-id",
    "x-replay-count",
    "traceparent",
    "tracestate",
)
"""Headers a handler sees in ``Delivery.headers`` and every retry and dead letter keeps.
``actor-*``: who caused the event (the subject and token id of the caller at the edge), when
somebody did; ``x-replay-count`` is set by ``dlq replay``, so a message that fails again after a
replay reaches the DLQ with its count (the replay bound needs it); ``traceparent``/``tracestate``:
the trace (W3C), kept even where tracing is off and replaced by the handler's span where it is on."""


@attrs.frozen
class RetryPolicy:
    """Exponential backoff: ``first_delay * 2**n`` seconds (at most ``max_delay``), ``max_retries`` times."""

    max_retries: int = 5
    first_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, retries: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2**retries))


class ServiceRequest(Request):  # type: ignore[misc]
    """Makes the task id ``<message id>.<service>``.

    All consumers of one fanned-out message share its id, and Flower (like any result store)
    keys task state by id: without this, billing's and logistic's handling of one order would
    show as a single task. The original id stays in ``original_id``; acks use the delivery tag.
    """

    def __init__(self, message: Message, *args: Any, **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        suffix = f".{self._task.service}"
        original = str(self._request_dict["id"])
        if not original.endswith(suffix):
            self._request_dict["original_id"] = original
            self._request_dict["id"] = self.id = original + suffix


class ServiceTask(Task):  # type: ignore[misc]
    """Base of every task of a service app."""

    Request = ServiceRequest
    typing = False

    @cached_property
    def service(self) -> str:
        """The consuming service, read once: a lookup in ``app.conf`` (a chain of mappings with
        key aliases) was the largest part of a delivery's bookkeeping in a busy worker."""
        return service_of(self.app)

    @cached_property
    def topology(self) -> Topology:
        return topology_of(self.app)

    @cached_property
    def subscriptions(self) -> Subscriptions:
        """The app's callbacks and responders (``create_app``'s registry)."""
        return subscriptions_of(self.app)

    def original_id(self) -> str:
        request = self.request
        return str(getattr(request, "original_id", None) or request.id)

    def own_queue(self) -> str:
        """The queue this task's messages come from, for private retries and dead letters."""
        topology, service = self.topology, self.service
        try:
            key = RoutingKey.parse(self.name)
        except ValueError:
            return topology.service(service).internal
        subscription = topology.subscription_for(service, key)
        return subscription.queue if subscription else topology.service(service).internal

    def republish(
        self, exchange: str, routing_key: str, extra_headers: Mapping[str, Any], retries: int, **options: Any
    ) -> None:
        """Publish this task's message again (same id, kwargs, chain and contract headers)."""
        request = self.request
        passed_on = {h: getattr(request, h, None) for h in PASSED_ON_HEADERS}
        headers, properties, body = task_message(
            self.app,
            name=self.name,
            task_id=self.original_id(),
            kwargs=request.kwargs or {},
            args=request.args or (),
            headers={**{k: v for k, v in passed_on.items() if v is not None}, **extra_headers},
            retries=retries,
            chain=request.chain,  # a retried canvas step keeps the steps after it
        )
        publish_with_confirm(
            self.app,
            body,
            exchange=exchange,
            routing_key=routing_key,
            headers=headers,
            properties=properties,
            **options,
        )

    def retry_privately(self, exc: BaseException) -> None:
        """Back into this service's own queue after the backoff, or dead-letter when exhausted."""
        policy: RetryPolicy = self.app.conf.shop_retry_policy
        retries = int(self.request.retries or 0)
        queue = self.own_queue()
        if retries >= policy.max_retries:
            self.dead_letter(
                "retries-exhausted", f"failed {retries + 1} times; last error: " + _describe(exc)
            )
            raise exc
        delay = policy.delay(retries)
        owner = self.topology.owner_of_queue(queue)
        self.republish(owner.retry_exchange, queue, {}, retries + 1, expiration=delay)
        metrics.note_retried()
        log.warning(
            "%s: retry %d/%d in %.1f s via %s.retry: %s",
            self.request.id,
            retries + 1,
            policy.max_retries,
            delay,
            queue,
            exc,
        )
        raise Retry(exc=exc, when=delay)

    @contextmanager
    def handling(self, *, retry: bool = True) -> Iterator[None]:
        """A task body run as every event callback is: :class:`PoisonMessage` goes to the
        queue's DLQ at once with its reason (``rejected-by-handler``); any other error is
        retried privately with backoff (``retry=False``: raised as it is, e.g. a periodic job
        whose next run is near)."""
        try:
            yield
        except PoisonMessage as exc:
            self.dead_letter("rejected-by-handler", _describe(exc))
            raise
        except Exception as exc:
            if not retry:
                raise
            self.retry_privately(exc)

    def dead_letter(self, reason: str, detail: str) -> None:
        """A copy with the reason to ``<queue>.dlq``; falls back to the broker's own DLX."""
        queue = self.own_queue()
        owner = self.topology.owner_of_queue(queue)
        headers = reason_headers(reason, detail, queue, self.service, self.request.delivery_info or {})
        try:
            self.republish(owner.dead_letter_exchange, queue, headers, int(self.request.retries or 0))
        except Exception as exc:
            log.exception("could not dead-letter %s with its reason; rejecting it instead", self.request.id)
            raise Reject(f"{reason}: {detail}", requeue=False) from exc
        metrics.note_dead_lettered(reason)
        log.error("%s dead-lettered to %s.dlq: %s: %s", self.request.id, queue, reason, detail)


def reason_headers(
    reason: str, detail: str, queue: str, service: str, delivery_info: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "x-dead-letter-reason": reason,
        "x-dead-letter-detail": detail[:DETAIL_LIMIT],
        "x-dead-letter-queue": queue,
        "x-dead-letter-service": service,
        "x-dead-lettered-at": utc_now().isoformat(),
        "x-original-exchange": delivery_info.get("exchange") or "",
        "x-original-routing-key": delivery_info.get("routing_key") or "",
    }


def _describe(exc: BaseException) -> str:
    lines = traceback.format_exception(exc)
    return f"{exc!r}\n" + "".join(lines[-6:])


def _delivery(task: ServiceTask, routing_key: str) -> Delivery:
    request = task.request
    headers = {h: getattr(request, h) for h in PASSED_ON_HEADERS if getattr(request, h, None)}
    raw_id = headers.get("event-id") or task.original_id()
    return Delivery(
        event_id=Delivery.event_id_from(str(raw_id), routing_key),
        routing_key=routing_key,
        consumer=task.service,
        correlation_id=headers.get("correlation-id"),
        retries=int(request.retries or 0),
        redelivered=bool((request.delivery_info or {}).get("redelivered")),
        headers=headers,
    )


def _event_task(event: Event[Any], routing_key: str) -> Callable[..., None]:
    def handle(task: ServiceTask, *args: Any, instance: Any = None, **kwargs: Any) -> None:
        delivery = _delivery(task, routing_key)
        payload = instance if instance is not None else (args[0] if args else kwargs or None)
        try:
            message = event.decode(routing_key, payload, Envelope(delivery.event_id, delivery.occurred_at))
        except ContractError as exc:
            task.dead_letter("invalid-payload", str(exc))
            raise PoisonMessage(str(exc)) from exc
        with task.handling():
            task.subscriptions.dispatch(event, message, delivery)

    def observed(task: ServiceTask, *args: Any, **kwargs: Any) -> None:
        with metrics.observe_handler(routing_key):  # every delivery's duration and outcome
            handle(task, *args, **kwargs)

    observed.__name__ = observed.__qualname__ = routing_key.replace(".", "_")
    return observed


def _responder_task(call: RemoteCall[Any, Any]) -> Callable[..., None]:
    def answer(task: ServiceTask, *args: Any, request: Any = None, **kwargs: Any) -> None:
        reply: dict[str, Any]
        try:
            responder = task.subscriptions.responder(call)
            if responder is None:
                raise NotImplementedError(f"{call.name} has no responder in this service")
            result = responder(structure(request, call.request_type))
            reply = {"ok": True, "result": unstructure(result)}
        except ContractError as exc:
            reply = {"ok": False, "kind": "invalid-request", "message": str(exc)}
        except NotFound as exc:
            reply = {"ok": False, "kind": "not-found", "message": str(exc)}
        except Exception as exc:
            log.exception("%s failed", call.name)
            reply = {"ok": False, "kind": "error", "message": repr(exc)}
        route = task.topology.reply_route(call.service, task.request.reply_to or "")
        if route is None:
            log.warning(
                "%s: request %s has reply_to %r, not a reply queue of a caller; answer dropped",
                call.name,
                task.request.id,
                task.request.reply_to,
            )
            return
        exchange, routing_key = route
        publish_with_confirm(
            task.app,
            reply,
            exchange=exchange,
            routing_key=routing_key,
            headers={},
            properties={"correlation_id": task.request.correlation_id},
            mandatory=False,
            retry=False,
        )

    answer.__name__ = answer.__qualname__ = call.name.replace(".", "_")
    return answer


def register_service_tasks(app: Celery) -> None:
    """Register a task per accepted version of each subscribed event, and each sync call.

    Fails fast when the topology subscribes the service to an event no message declares.
    """
    service = service_of(app)
    topology = topology_of(app)
    app.conf.setdefault("shop_retry_policy", RetryPolicy())
    for subscription in topology.subscriptions_of(service):
        for name in subscription.events:
            event = next(
                (
                    e
                    for e in EVENTS.values()
                    if e.key.service == subscription.producer and e.key.event == name
                ),
                None,
            )
            if event is None:
                raise LookupError(
                    f"{service} subscribes to {subscription.producer}.*.{name} "
                    "but no message declares that event"
                )
            for routing_key in event.versions():
                handler = _event_task(event, routing_key)
                app.task(name=routing_key, bind=True, base=ServiceTask, shared=False)(handler)
    if topology.service(service).answers_sync:
        for call in REMOTE_CALLS.values():
            if call.service == service:
                app.task(name=call.name, bind=True, base=ServiceTask, shared=False)(_responder_task(call))


class ShopConsumer(Consumer):  # type: ignore[misc]
    """Celery's consumer, minus native delayed delivery, with every bad message dead-lettered.

    Stock Celery acks undecodable messages (lost), rejects unknown task names without a reason,
    and lets a malformed task body kill the worker process on every redelivery. Here each case
    goes to the queue's DLQ with the reason, and the worker keeps going.

    Task events (for Flower) are published without publisher confirms (see
    :meth:`connection_for_write`), several to a message (see :meth:`on_send_event_buffered`).
    """

    _events_flush: Any = None

    class Blueprint(Consumer.Blueprint):  # type: ignore[misc]
        default_steps: ClassVar[list[str]] = [
            *(s for s in Consumer.Blueprint.default_steps if "DelayedDelivery" not in s),
            "event_contracts.runtime.consumer:HeartbeatFile",
        ]

    def connection_for_write(self, url: str | None = None, heartbeat: float | None = None) -> Any:
        """The task events' connection (Celery's ``Events`` step is its only user), unconfirmed.

        Events are transient messages to Flower's exclusive, non-durable queue with a 5 s TTL:
        the broker never keeps them, so a confirm guarantees nothing a monitor relies on, yet
        waiting for it stalled the worker's event loop once per event batch. Every other publish
        (events of the platform, chain steps, retries, dead letters) stays confirmed.
        """
        return self.ensure_connected(
            self.app.connection_for_write(
                url=url, heartbeat=heartbeat, transport_options={"confirm_publish": False}
            )
        )

    def on_send_event_buffered(self) -> None:
        """Publish the buffered task events ``FLUSH_SECONDS`` after the first of them.

        Celery flushes them on the event loop's next turn: in a busy worker one message per
        task, whose encoding and publish cost the worker's main process about as much as the
        task's own delivery and ack. Held briefly, a busy worker's events share a message.
        """
        if self.hub is not None and self._events_flush is None:
            self._events_flush = self.hub.call_later(FLUSH_SECONDS, self._flush_buffered_events)

    def _flush_buffered_events(self) -> None:
        self._events_flush = None
        self._flush_events()

    def shutdown(self) -> None:
        """Publish the events still held, then stop as Celery does."""
        if self._events_flush is not None:
            self._events_flush.cancel()
            self._flush_buffered_events()
        super().shutdown()

    def on_decode_error(self, message: Message, exc: BaseException) -> None:
        self.dead_letter_raw(message, "undecodable", f"{exc!r}; content-type {message.content_type!r}")

    def on_unknown_message(self, body: Any, message: Message) -> None:
        self.dead_letter_raw(
            message, "not-a-task-message", "no Celery 'task' header: not an event of this platform"
        )

    def on_unknown_task(self, body: Any, message: Message, exc: BaseException) -> None:
        name = (message.headers or {}).get("task")
        known = sorted(n for n in self.app.tasks if not n.startswith("celery."))
        reason = "unknown-event-version" if _is_event_key(str(name)) else "unregistered-task"
        self.dead_letter_raw(
            message, reason, f"{name!r} is not handled by {service_of(self.app)}; it handles {known}"
        )

    def on_invalid_task(self, body: Any, message: Message, exc: BaseException) -> None:
        self.dead_letter_raw(message, "invalid-task-message", repr(exc))

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Callable[[Message], Any]:
        handler = super().create_task_handler(*args, **kwargs)

        def guarded(message: Message) -> Any:
            try:
                return handler(message)
            except Exception as exc:  # a malformed body would otherwise kill the worker
                if not message.acknowledged:
                    self.dead_letter_raw(message, "malformed-task-message", repr(exc))
                return None

        return guarded

    def queue_of(self, message: Message) -> str | None:
        tag = (message.delivery_info or {}).get("consumer_tag")
        tags = getattr(self.task_consumer, "_active_tags", {}) if self.task_consumer else {}
        return next((queue for queue, t in tags.items() if t == tag), None)

    def dead_letter_raw(self, message: Message, reason: str, detail: str) -> None:
        """Publish the delivery as it came, plus the reason, to its queue's DLQ; then ack."""
        queue = self.queue_of(message)
        log.error("dead-lettering a message from %s: %s: %s", queue, reason, detail)
        try:
            if queue is None:
                raise LookupError("message from an unknown queue")
            owner = topology_of(self.app).owner_of_queue(queue)
            headers = {
                **(message.headers or {}),
                **reason_headers(reason, detail, queue, service_of(self.app), message.delivery_info or {}),
            }
            publish_with_confirm(
                self.app,
                message.body,
                exchange=owner.dead_letter_exchange,
                routing_key=queue,
                headers=headers,
                content_type=message.content_type or "application/octet-stream",
                content_encoding=message.content_encoding or "binary",
            )
        except Exception:
            log.exception("could not dead-letter with a reason; rejecting (broker DLX keeps it)")
            message.reject_log_error(log, self.connection_errors)
            return
        metrics.count_rejected_message(str((message.headers or {}).get("task") or ""), reason)
        message.ack_log_error(log, self.connection_errors)


class HeartbeatFile(bootsteps.StartStopStep):  # type: ignore[misc]
    """Touches ``$WORKER_HEARTBEAT_FILE`` every 10 s while the worker consumes.

    A container health check then only compares a file's age (``stat``), instead of booting a
    Python interpreter and a broker connection for ``celery inspect ping`` every few seconds.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)
    INTERVAL = 10.0

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        self.path = Path(os.environ.get("WORKER_HEARTBEAT_FILE", "/tmp/worker-heartbeat"))
        self.entry: Any = None

    def start(self, parent: Any) -> None:
        self.path.touch()
        self.entry = parent.timer.call_repeatedly(self.INTERVAL, self.path.touch)

    def stop(self, parent: Any) -> None:
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None


def _is_event_key(name: str) -> bool:
    try:
        RoutingKey.parse(name)
    except ValueError:
        return False
    return True
