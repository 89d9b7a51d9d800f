"""The calling side of request/response: publish a request, wait for the reply, or time out.

Replies use RabbitMQ's direct reply-to (``amq.rabbitmq.reply-to``): no reply queue is declared
per caller or per call. The request carries a per-message TTL equal to the timeout, so a
request nobody answered in time expires in the broker instead of being run late.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar
from uuid import uuid4

from celery import Celery
from kombu.entity import Queue
from kombu.messaging import Consumer as KombuConsumer

from event_contracts.errors import RemoteCallError, RemoteCallTimeout
from event_contracts.rpc import RemoteCall
from event_contracts.runtime.publisher import task_message
from event_contracts.serialization import structure, unstructure

Req = TypeVar("Req")
Resp = TypeVar("Resp")

REPLY_TO = "amq.rabbitmq.reply-to"
DEFAULT_TIMEOUT = 2.0


class RpcClient:
    """Calls other services' ``.sync`` queues through a Celery app's connection pool."""

    def __init__(self, app: Celery, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.app, self.timeout = app, timeout

    def call(self, call: RemoteCall[Req, Resp], request: Req, *, timeout: float | None = None) -> Resp:
        """Ask and wait; raises RemoteCallTimeout or RemoteCallError (kind ``not-found``, ...)."""
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
            headers={"correlation-id": call_id},
            reply_to=REPLY_TO,
        )
        # A pooled connection (kept open between calls); a fresh channel per call, whose
        # direct reply-to consumer ends with it.
        with self.app.pool.acquire(block=True, timeout=wait) as connection:
            connection.ensure_connection(max_retries=1, timeout=wait)
            channel = connection.channel()
            try:
                reply_queue = Queue(REPLY_TO, no_declare=True)
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
