"""The calling side of request/response: publish a request, wait for the reply, or time out.

Replies come back through the caller's own reply exchange (``<caller>.reply``) into an
exclusive reply queue per connection (``<caller>.reply.<32 hex>``), declared and bound once
when the pooled connection first calls and gone with it. Not RabbitMQ's direct reply-to: its
responder must publish on the default exchange, and a write on ``amq.default`` reaches every
queue in the vhost (event-contracts' README, "Remote calls"). The request carries a
per-message TTL equal to the timeout, so a request nobody answered in time expires in the
broker instead of being run late.
"""

from __future__ import annotations

import time
import weakref
from typing import Any, TypeVar
from uuid import uuid4

from celery import Celery
from kombu.entity import Queue
from kombu.messaging import Consumer as KombuConsumer

from event_contracts.errors import RemoteCallError, RemoteCallTimeout
from event_contracts.rpc import RemoteCall
from event_contracts.runtime.conf import service_of, topology_of
from event_contracts.runtime.publisher import task_message
from event_contracts.serialization import structure, unstructure
from event_contracts.service_defaults import metrics, tracing
from event_contracts.topology import Service

Req = TypeVar("Req")
Resp = TypeVar("Resp")

DEFAULT_TIMEOUT = 2.0
REPLY_TTL_MS = 60_000
"""Late answers (their call timed out) wait this long at most in a reply queue nobody reads."""
REPLY_QUEUE_OPTIONS: dict[str, Any] = {
    "durable": False,
    "exclusive": True,  # gone with the connection
    "auto_delete": False,  # py-amqp's default is True: it must outlive each call's consumer
    "arguments": {"x-message-ttl": REPLY_TTL_MS},
}


def declare_reply_queue(channel: Any, caller: Service, suffix: str | None = None) -> str:
    """Declare an exclusive reply queue of ``caller`` on ``channel``'s connection and bind it to
    the caller's reply exchange by its own name; returns the name. Needs the caller's user."""
    name = caller.reply_queue(suffix or uuid4().hex)
    channel.queue_declare(queue=name, **REPLY_QUEUE_OPTIONS)
    channel.queue_bind(queue=name, exchange=caller.reply_exchange, routing_key=name)
    return name


class RpcClient:
    """Calls other services' ``.sync`` queues through a Celery app's connection pool."""

    def __init__(self, app: Celery, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.app, self.timeout = app, timeout
        self.caller = topology_of(app).service(service_of(app))
        # transport connection -> its reply queue; a reconnect is a new object, so a new queue
        self._reply_queues: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def _reply_queue(self, connection: Any, channel: Any) -> str:
        transport = connection.connection
        name = self._reply_queues.get(transport)
        if name is None:
            name = self._reply_queues[transport] = declare_reply_queue(channel, self.caller)
        return name

    def call(self, call: RemoteCall[Req, Resp], request: Req, *, timeout: float | None = None) -> Resp:
        """Ask and wait; raises RemoteCallTimeout or RemoteCallError (kind ``not-found``, ...)."""
        with metrics.observe_call(call.name):  # latency, timeouts
            return self._call(call, request, timeout)

    def _call(self, call: RemoteCall[Req, Resp], request: Req, timeout: float | None) -> Resp:
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        call_id = str(uuid4())
        replies: list[dict[str, Any]] = []

        def on_reply(body: Any, message: Any) -> None:
            if message.properties.get("correlation_id") == call_id:
                replies.append(body)

        headers, properties, body = task_message(
            self.app,
            name=call.name,
            task_id=call_id,
            kwargs={"request": unstructure(request)},
            headers=tracing.with_trace_context({"correlation-id": call_id}),
        )
        # A pooled connection (kept open between calls) with its reply queue; a fresh channel
        # per call, whose consumer on that queue ends with it.
        with self.app.pool.acquire(block=True, timeout=wait) as connection:
            connection.ensure_connection(max_retries=1, timeout=wait)
            channel = connection.channel()
            try:
                reply_to = self._reply_queue(connection, channel)
                properties["reply_to"] = reply_to
                reply_queue = Queue(reply_to, no_declare=True)
                with KombuConsumer(
                    channel, [reply_queue], callbacks=[on_reply], no_ack=True, accept=["json"]
                ):
                    producer = connection.Producer(channel)
                    producer.publish(
                        body,
                        exchange=call.queue,
                        routing_key=call.queue,
                        headers=headers,
                        serializer="json",
                        mandatory=True,
                        delivery_mode=1,
                        expiration=wait,
                        declare=(),
                        **properties,
                    )
                    while not replies:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise RemoteCallTimeout(call.name, wait)
                        try:
                            connection.drain_events(timeout=remaining)
                        except TimeoutError:
                            continue
            finally:
                channel.close()
        reply = replies[0]
        if not reply.get("ok"):
            raise RemoteCallError(call.name, str(reply.get("kind")), str(reply.get("message")))
        return structure(reply["result"], call.response_type)
