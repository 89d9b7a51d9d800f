"""Raw Celery: ``send_task`` to a no-op task on quorum queues, plain Celery apps, no contracts.

Two measurements:

* ``stock``: the baseline, a plain Celery app with stock settings (no publisher
  confirms, the worker's defaults: prefork, ``-c`` = cores, acks early) and one quorum queue;
* ``same guarantees``: what the platform asks of the broker, done with plain Celery: confirmed
  persistent publishes on a topic exchange fanned out to two quorum queues, each drained by its
  own worker with ``acks_late``. Platform / this ratio is the cost of the event-contracts layer
  alone (message classes, contract headers, mandatory publish, consumer guards, task events).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from bench.broker import BenchVhost, declare_quorum_queue
from bench.harness import Consumers, Publish, close_app, consumers, warm_then_measure
from bench.payload import raw_payload

STOCK_QUEUE = "bench.celery"
FANOUT_EXCHANGE = "bench.fanout"
FANOUT_QUEUES = ("bench.fanout.billing", "bench.fanout.logistic")
ROUTING_KEY = "order.v2.submit"
BINDING = "order.*.submit"


def run_stock(
    vhost: BenchVhost,
    *,
    seconds: float,
    publishers: int,
    warmup: float,
    drain: float,
    pool: str,
    concurrency: int,
    repeat: int = 1,
) -> dict[str, Any]:
    url = vhost.url()
    declare_quorum_queue(url, STOCK_QUEUE)
    app = Celery("bench-stock", broker=url, set_as_current=False)
    app.conf.update(
        task_queues=[
            Queue(
                STOCK_QUEUE,
                Exchange(STOCK_QUEUE),
                routing_key=STOCK_QUEUE,
                queue_arguments={"x-queue-type": "quorum"},
            )
        ],
        task_default_queue=STOCK_QUEUE,
    )

    def publish() -> str:
        key, body = raw_payload()
        app.send_task("bench.noop", kwargs={"instance": body}, task_id=key)
        return key

    try:
        with consumers() as group:
            group.start(
                "celery",
                ["celery", STOCK_QUEUE, "--url", url, "--pool", pool, "--concurrency", str(concurrency)],
            )
            return warm_then_measure(
                "raw Celery (stock)",
                group,
                publish,
                seconds=seconds,
                publishers=publishers,
                warmup=warmup,
                drain=drain,
                repeat=repeat,
            )
    finally:
        close_app(app)


def run_same_guarantees(
    vhost: BenchVhost,
    *,
    seconds: float,
    publishers: int,
    warmup: float,
    drain: float,
    pool: str,
    concurrency: int,
    repeat: int = 1,
) -> dict[str, Any]:
    url = vhost.url()
    app, publish = fanout_publisher(url)
    try:
        with consumers() as group:
            start_fanout_consumers(group, url, pool=pool, concurrency=concurrency)
            return warm_then_measure(
                "raw Celery (confirm, fan-out 2)",
                group,
                publish,
                seconds=seconds,
                publishers=publishers,
                warmup=warmup,
                drain=drain,
                repeat=repeat,
            )
    finally:
        close_app(app)


def fanout_publisher(url: str) -> tuple[Celery, Publish]:
    """A plain Celery app publishing with confirms to the fan-out exchange, and its ``publish``."""
    for queue in FANOUT_QUEUES:
        declare_quorum_queue(url, queue, exchange=FANOUT_EXCHANGE, routing_keys=[BINDING])
    app = Celery("bench-confirmed", broker=url, set_as_current=False)
    app.conf.update(broker_transport_options={"confirm_publish": True}, task_acks_late=True)
    exchange = Exchange(FANOUT_EXCHANGE, type="topic")

    def publish() -> str:
        key, body = raw_payload()
        app.send_task(
            ROUTING_KEY,
            kwargs={"instance": body},
            task_id=key,
            exchange=exchange,
            routing_key=ROUTING_KEY,
            declare=[],
        )
        return key

    return app, publish


def start_fanout_consumers(
    group: Consumers, url: str, *, pool: str, concurrency: int, like_platform: bool = False
) -> None:
    """One plain Celery worker (acks late) per fanned-out queue."""
    for queue in FANOUT_QUEUES:
        group.start(
            queue.rsplit(".", 1)[1],
            [
                "celery",
                queue,
                "--url",
                url,
                "--exchange",
                FANOUT_EXCHANGE,
                "--binding",
                BINDING,
                "--task",
                ROUTING_KEY,
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "--acks-late",
                *(["--like-platform"] if like_platform else []),
            ],
        )
