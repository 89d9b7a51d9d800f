"""Per-queue prefetch: how a worker that consumes several queues takes some before others.

A Celery worker consumes all its queues on one channel. On quorum queues its prefetch is per
consumer (RabbitMQ's ``basic.qos`` with ``global=false`` applies to each consumer created after
it), and every queue gets the same count, so a worker busy on two queues runs about as many
tasks from each. That is wrong where one queue holds work already started: logistic runs
three chain steps (``logistic.internal``) per new order (``logistic.order``), so at one to one
new orders keep starting chains faster than they finish, and the chain queue grows.

``shop_queue_prefetch={"logistic.order": 1}`` gives the consumer of that queue its own, smaller
count: at most one new order waits in the worker beside up to the worker's whole prefetch of
chain steps, so a busy worker runs several steps for each new order and finishes started
chains first; the orders not taken wait in their queue (durable, and not yet anybody's work).
Consumer priorities (``x-priority``) cannot do this: they rank consumers of one queue, not
queues.

How: the consumer starts the queues without a count of their own first (under the worker's
count), then, for each queue with a count, sets it and starts that queue. A queue added to a
running worker later (remote control ``add_consumer``) gets the last count set; the services
never do that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery.app.amqp import AMQP
from kombu.messaging import Consumer

QUEUE_PREFETCH = "shop_queue_prefetch"
"""``app.conf`` key: ``{queue name: prefetch count}`` for queues that need their own count."""


class PerQueuePrefetchConsumer(Consumer):
    """A kombu consumer that gives some of its queues their own prefetch count."""

    def __init__(
        self, *args: Any, prefetch_per_queue: Mapping[str, int] | None = None, **kwargs: Any
    ) -> None:
        self.prefetch_per_queue = dict(prefetch_per_queue or {})
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def _consume_queues(self, no_ack_by_queue: Mapping[str, bool]) -> None:
        own = {name: count for name, count in self.prefetch_per_queue.items() if name in no_ack_by_queue}
        if not own:
            super()._consume_queues(no_ack_by_queue)  # type: ignore[no-untyped-call]
            return
        # Under the worker's count first; each queue with its own count after setting it (a
        # per-consumer count holds for the consumers started after it, never for earlier ones).
        shared = {name: no_ack for name, no_ack in no_ack_by_queue.items() if name not in own}
        if shared:
            super()._consume_queues(shared)  # type: ignore[no-untyped-call]
        for name, count in own.items():
            if name in self._active_tags:
                continue
            channel = self.channel
            assert channel is not None  # bound since __init__
            channel.basic_qos(0, count, False)
            super()._consume_queues({name: no_ack_by_queue[name]})  # type: ignore[no-untyped-call]


class ShopAMQP(AMQP):  # type: ignore[misc]
    """Celery's AMQP helper, with the task consumer honouring ``shop_queue_prefetch``."""

    def TaskConsumer(  # noqa: N802 - Celery's name
        self, channel: Any, queues: Any = None, accept: Any = None, **kwargs: Any
    ) -> Consumer:
        return PerQueuePrefetchConsumer(
            channel,
            accept=self.app.conf.accept_content if accept is None else accept,
            queues=queues or list(self.queues.consume_from.values()),
            prefetch_per_queue=self.app.conf.get(QUEUE_PREFETCH) or {},
            **kwargs,
        )
