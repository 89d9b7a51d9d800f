"""Running a service's worker (and beat) with the platform's standard command line."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from celery import Celery, bootsteps
from celery.signals import worker_process_shutdown

from event_contracts.runtime.conf import service_of, topology_of
from event_contracts.service_defaults import logging as service_logging
from event_contracts.service_defaults import metrics, tracing
from event_contracts.topology import TOPOLOGY, Topology

log = logging.getLogger(__name__)

PLATFORM_POOLS = {"threads": "event_contracts.runtime.pool:BoundedThreadPool"}
"""``WORKER_POOL`` names that mean a pool of the platform's own rather than Celery's of that
name (:mod:`event_contracts.runtime.pool`); any other name is Celery's (``prefork``, ``solo``)."""


def pool_name(pool: str | None = None) -> str:
    """The worker pool: ``pool``, else ``WORKER_POOL``, else prefork."""
    return pool or os.environ.get("WORKER_POOL", "prefork")


def use_pool(app: Celery, pool: str | None = None) -> None:
    """Make a platform pool ``app``'s ``worker_pool`` (a class path: Celery's ``--pool`` takes its
    own names only); :func:`worker_argv` then passes ``--pool prefork``, Celery's default, which
    stands for the app's ``worker_pool`` whenever that is set."""
    name = pool_name(pool)
    if name in PLATFORM_POOLS:
        app.conf.worker_pool = PLATFORM_POOLS[name]


def worker_argv(
    service: str,
    *,
    topology: Topology = TOPOLOGY,
    queues: Sequence[str] = (),
    concurrency: int | None = None,
    pool: str | None = None,
) -> list[str]:
    """``celery worker`` arguments every service uses (a platform pool needs :func:`use_pool` too).

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
        "prefork" if pool_name(pool) in PLATFORM_POOLS else pool_name(pool),
        "--loglevel",
        os.environ.get("LOG_LEVEL", "INFO"),
    ]


def run_worker(app: Celery, extra: Sequence[str] = ()) -> None:
    """Start the worker of ``app``'s service (blocks), on the queues of the app's own topology,
    with the service defaults: the shared log format, ``/metrics`` on ``METRICS_PORT`` and
    traces per pool process (:mod:`event_contracts.service_defaults`)."""
    service_logging.configure_celery(_service_name(app), "worker")
    _serve_metrics()
    tracing.trace_celery_worker(_service_name(app))
    use_pool(app)
    app.worker_main([*worker_argv(service_of(app), topology=topology_of(app)), *extra])


def run_beat(app: Celery, schedule_file: str = "/tmp/celerybeat-schedule") -> None:
    """Start the service's single beat scheduler (blocks); run exactly one per deployment."""
    service_logging.configure_celery(_service_name(app), "beat")
    tracing.trace_celery_beat(_service_name(app))
    app.start(["beat", "--schedule", schedule_file, "--loglevel", os.environ.get("LOG_LEVEL", "INFO")])


def _serve_metrics() -> None:
    """A Celery worker's metrics: an empty multiprocess directory, the listener in the main
    process, pool children marked dead when they exit (prefork recycles them)."""
    metrics.prepare()
    worker_process_shutdown.connect(_pool_child_exited, weak=False)
    metrics.serve()


def _pool_child_exited(**_: Any) -> None:
    metrics.mark_process_dead()


def _service_name(app: Celery) -> str:
    """``service.name`` of a service's processes: its broker user (``billing-service``)."""
    return topology_of(app).service(service_of(app)).user


def add_periodic_job(app: Celery, name: str, every: float, job: Callable[[], object]) -> None:
    """Run ``job`` every ``every`` seconds in ``app``'s worker (its main process), from start on.

    For housekeeping that needs no broker round trip and no beat (purging the inbox): each
    worker replica runs it, so the job must be safe to run concurrently (a DELETE of old rows
    is). It runs in a thread of its own, so a slow job never holds up consuming; a failing one
    is logged and tried again next time.
    """

    class PeriodicJob(bootsteps.StartStopStep):  # type: ignore[misc]
        label = name

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            self.stopped = threading.Event()
            self.thread: threading.Thread | None = None

        def start(self, parent: Any) -> None:
            self.stopped.clear()
            self.thread = threading.Thread(target=self.loop, name=name, daemon=True)
            self.thread.start()

        def loop(self) -> None:
            while not self.stopped.is_set():
                try:
                    job()
                except Exception:
                    log.exception("periodic job %s failed; trying again in %g s", name, every)
                self.stopped.wait(every)

        def stop(self, parent: Any) -> None:
            self.stopped.set()
            if self.thread is not None:
                self.thread.join(timeout=10)
                self.thread = None

    PeriodicJob.__name__ = PeriodicJob.__qualname__ = f"PeriodicJob[{name}]"
    app.steps["worker"].add(PeriodicJob)
