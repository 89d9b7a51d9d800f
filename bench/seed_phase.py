"""The seed design: what a team would copy from the seed article, run on the same broker.

The seed repository (zauddelig/celery-attrs-example) fans an event out with nothing but
Celery: the event is a task named by its routing key (``order.v1.submit``), published with
``task.delay(instance=<the attrs object unstructured>)`` to the ``order`` topic exchange; each
consumer is a stock ``celery worker`` (prefork, acks early, mingle, gossip, no task events)
whose one queue is bound ``order.*.submit``, and whose task structures the JSON back into an
attrs class with cattrs and calls the callbacks. Stock settings throughout: no publisher
confirms, no ``mandatory``, no dead-lettering, no retries.

Here it runs as the seed has it, with three changes that keep the comparison about the design
and not the setup: the queues are quorum queues (as the platform's: three replicas), the
consumers' callback records the event id instead of printing it, and there is no result
backend (the seed's ``backend=amqp://`` is Celery 4's ``amqp`` result backend, gone since
Celery 5; its callbacks return nothing anyone reads). Publishers, payload (the same ~300 B
JSON as every phase), worker pool and concurrency are the platform phase's.

It runs in a throwaway vhost of its own (``bench-seed-<random>``), empty but for what the
seed's apps declare: in the platform's vhost the platform's own queues are bound
``order.*.submit`` to ``order`` too and would collect every seed event.

Three measurements, as the platform phase: the maximum load, the platform's offered load (the
same events/s, for latency like for like), and a backlog drained by consumers that were held
while it was published (:mod:`bench.drain`: the consumers' capacity, like for like with the
platform's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from celery import Celery
from kombu import Exchange

from bench.broker import Management, bench_vhost
from bench.drain import measure_drain
from bench.harness import (
    Consumers,
    Publish,
    close_app,
    consumers,
    max_then_paced,
    warm_up,
)
from bench.payload import raw_payload

EXCHANGE = "order"
TASK = "order.v1.submit"
"""The task's name is the event's routing key."""
BINDING = "order.*.submit"
QUEUES = {"billing": "billing_order", "logistic": "logistic_order"}


@attrs.define
class SeedOrderLine:
    id: int
    quantity: int
    unit_price: str


@attrs.define
class SeedOrder:
    """The seed's contract style: a plain attrs class the consumer structures the JSON into."""

    event_id: str
    id: int
    customer_id: str
    currency: str
    lines: list[SeedOrderLine] = attrs.field(factory=list)


def run(
    management: Management,
    ports: Sequence[int],
    *,
    seconds: float,
    paced_seconds: float,
    publishers: int,
    warmup: float,
    drain: float,
    pool: str,
    concurrency: int,
    offered: float | None = None,
    fraction: float = 0.5,
    repeat: int = 1,
    backlog: int = 0,
    paced_publishers: int | None = None,
) -> dict[str, Any]:
    """Max load, then ``offered`` events/s (the platform's paced load; else ``fraction`` of
    this phase's max), then a drained ``backlog`` of events (0: skip)."""
    with bench_vhost(management, ports, prefix="bench-seed", topology=False) as vhost:
        print(f"bench: vhost {vhost.name} for the seed design (only what its apps declare; deleted after)")
        url = vhost.url()
        with consumers() as group:
            start_seed_consumers(group, url, pool=pool, concurrency=concurrency)
            group.wait_ready()
            app, publish = seed_publisher(url)
            try:
                handled = group.handled()
                warm_up("seed design", publish, handled, seconds=warmup, publishers=publishers, drain=drain)
                result = max_then_paced(
                    "seed design",
                    publish,
                    handled,
                    seconds=seconds,
                    paced_seconds=paced_seconds,
                    publishers=publishers,
                    drain=drain,
                    repeat=repeat,
                    paced_publishers=paced_publishers,
                    offered=lambda top: offered or fraction * (top or {}).get("throughput", 0.0),
                )
                if backlog:
                    result["drain"] = measure_drain(
                        "seed design",
                        url=url,
                        queues=list(QUEUES.values()),
                        publish=publish,
                        handled=handled,
                        backlog=backlog,
                        publishers=publishers,
                        drain=drain,
                        cpu_seconds=group.cpu_seconds,
                    )
                return result
            finally:
                close_app(app)


def start_seed_consumers(group: Consumers, url: str, *, pool: str, concurrency: int) -> None:
    """The seed's two consumers (``bench.workers seed``), one per queue, in the vhost at ``url``."""
    for service, queue in QUEUES.items():
        group.start(service, ["seed", queue, "--url", url, "--pool", pool, "--concurrency", str(concurrency)])


def seed_publisher(url: str) -> tuple[Celery, Publish]:
    """The seed's producer: a stock Celery app without queues of its own, and the event's task
    bound to the ``order`` exchange under its routing key, published with ``delay``."""
    app = Celery("bench-seed-order", broker=url, set_as_current=False)
    app.conf.task_queues = ()
    exchange = Exchange(EXCHANGE, type="topic")

    @app.task(name=TASK, exchange=exchange, routing_key=TASK, shared=False)
    def submit(instance: dict[str, Any]) -> None:  # runs in the consumers (bench.workers seed)
        raise NotImplementedError

    def publish() -> str:
        key, body = raw_payload()
        submit.delay(instance=body)
        return key

    return app, publish
