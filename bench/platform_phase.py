"""The platform: ``order.submit()`` through event-contracts, handled by billing and logistic.

The publisher is ``Publisher(create_app("order"))`` (order-service's own publishing path: the
contract message built and encoded, protocol-2 task with the contract headers, persistent,
confirmed, mandatory, with failover retries). The consumers are two subprocesses running the
services' worker exactly as deployed (``create_app("billing")`` / ``create_app("logistic")``,
``run_worker``: ShopConsumer, prefork ``-c 2``, task events on) with a no-op callback on
``Order.submit``. Everything in the run's own vhost, as the services' least-privilege users.

Three measurements: as fast as the publishers go (the maximum), an open-loop offered load of a
fraction (default half) of the maximum measured, for the latency at a sustainable load, and a
backlog drained by consumers that were held while it was published (:mod:`bench.drain`: the
consumers' capacity, like for like with the seed design's).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from celery import Celery
from event_contracts import Publisher, create_app

from bench.broker import BenchVhost
from bench.drain import measure_drain
from bench.harness import (
    Consumers,
    Publish,
    close_app,
    consumers,
    max_then_paced,
    profiled,
    warm_up,
)
from bench.payload import new_order

DRAINED_QUEUES = ["billing.order", "logistic.order"]
"""The consumers' queues a drain holds and releases (``order.submit``'s two subscribers)."""


def run(
    vhost: BenchVhost,
    *,
    seconds: float,
    paced_seconds: float,
    fraction: float,
    publishers: int,
    warmup: float,
    drain: float,
    pool: str,
    concurrency: int,
    rate: float | None = None,
    profile: Path | None = None,
    repeat: int = 1,
    without_task_events: bool = False,
    backlog: int = 0,
    paced_publishers: int | None = None,
) -> dict[str, Any]:
    app, publish = platform_publisher(vhost)
    try:
        with consumers() as group:
            start_platform_consumers(
                group, vhost, pool=pool, concurrency=concurrency, without_task_events=without_task_events
            )
            group.wait_ready()
            handled = group.handled()
            warm_up("platform", publish, handled, seconds=warmup, publishers=publishers, drain=drain)
            spied = {"publisher": os.getpid(), "billing": group.pids[0], "logistic": group.pids[1]}
            result = max_then_paced(
                "platform",
                publish,
                handled,
                seconds=seconds,
                paced_seconds=paced_seconds,
                publishers=publishers,
                drain=drain,
                repeat=repeat,
                paced_publishers=paced_publishers,
                offered=lambda top: (rate or fraction * top["throughput"]) if top else 0.0,
                max_label="platform, no task events" if without_task_events else "platform (max load)",
                around_max=profiled(spied, profile),
            )
            if backlog:
                result["drain"] = measure_drain(
                    "platform",
                    url=vhost.url(),
                    queues=DRAINED_QUEUES,
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


def platform_publisher(vhost: BenchVhost) -> tuple[Celery, Publish]:
    """order-service's publishing path (``Publisher(create_app("order"))``) and its ``publish``."""
    app = create_app("order", broker_urls=vhost.urls("order-service"))
    publisher = Publisher(app)

    def publish() -> str:
        order = new_order()
        order.submit(publisher=publisher)
        return str(order.event_id)

    return app, publish


def start_platform_consumers(
    group: Consumers,
    vhost: BenchVhost,
    *,
    pool: str,
    concurrency: int,
    without_task_events: bool = False,
    env: Callable[[str], Mapping[str, str | None]] | None = None,
    name: str = "",
) -> None:
    """billing's and logistic's workers as deployed, as their least-privilege users; ``env``:
    each service's environment changes (the telemetry comparison's ``OTEL_*``, ``METRICS_PORT``)."""
    for service in ("billing", "logistic"):
        group.start(
            service,
            [
                "platform",
                service,
                "--url",
                ";".join(vhost.urls(f"{service}-service")),
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                *(["--without-task-events"] if without_task_events else []),
                *(["--name", name] if name else []),
            ],
            env=env(service) if env else None,
        )
