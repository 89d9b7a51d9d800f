"""Running a service's worker (and beat) with the platform's standard command line."""

from __future__ import annotations

import os
from collections.abc import Sequence

from celery import Celery

from event_contracts.topology import TOPOLOGY, Topology


def worker_argv(
    service: str,
    *,
    topology: Topology = TOPOLOGY,
    queues: Sequence[str] = (),
    concurrency: int | None = None,
    pool: str | None = None,
) -> list[str]:
    """``celery worker`` arguments every service uses.

    The node name ``<user>@<host>`` is what the broker user's permissions allow for its
    remote-control queue; ``-E`` sends task events for Flower; mingle and gossip are off (they
    add start-up round trips and queues and are not needed with acks_late workers).
    """
    svc = topology.service(service)
    return [
        "worker",
        "--hostname",
        f"{svc.user}@%h",
        "--queues",
        ",".join(queues or topology.worker_queues(service)),
        "--task-events",
        "--without-mingle",
        "--without-gossip",
        "--concurrency",
        str(concurrency or int(os.environ.get("WORKER_CONCURRENCY", "2"))),
        "--pool",
        pool or os.environ.get("WORKER_POOL", "prefork"),
        "--loglevel",
        os.environ.get("LOG_LEVEL", "INFO"),
    ]


def run_worker(app: Celery, extra: Sequence[str] = ()) -> None:
    """Start the worker of ``app``'s service (blocks)."""
    app.worker_main([*worker_argv(str(app.conf.shop_service)), *extra])


def run_beat(app: Celery, schedule_file: str = "/tmp/celerybeat-schedule") -> None:
    """Start the service's single beat scheduler (blocks); run exactly one per deployment."""
    app.start(["beat", "--schedule", schedule_file, "--loglevel", os.environ.get("LOG_LEVEL", "INFO")])
