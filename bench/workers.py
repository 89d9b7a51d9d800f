"""The consuming side of each phase, run as a subprocess: ``python -m bench.workers KIND ...``.

Each handler is a no-op that records ``<event id> <CLOCK_MONOTONIC seconds>`` when it has run,
one line per handled message, appended to ``--out`` (``O_APPEND``: prefork children of one
worker share the file safely). ``CLOCK_MONOTONIC`` is one clock for every process on the host,
so the parent subtracts its own publish instants from these. The worker touches ``--ready``
once it consumes.

Kinds:

* ``kombu QUEUE``: a plain kombu consumer (manual ack, prefetch 100) on a quorum queue;
* ``celery QUEUE [--exchange X --binding K]``: a plain Celery app, stock settings, its no-op
  task ``bench.noop`` (or the routing key as task name with ``--task``) on a quorum queue;
  ``--like-platform`` adds what the platform's worker does besides the contracts: task events
  (``-E``, for Flower) published without confirms, no mingle or gossip;
* ``seed QUEUE``: the seed design's consumer (see :mod:`bench.seed_phase`): a stock Celery app
  and worker (prefork, acks early, mingle and gossip on, no task events) whose one quorum queue
  is bound ``order.*.submit`` to the ``order`` topic exchange, and whose task, named by the
  routing key ``order.v1.submit``, structures the JSON into an attrs class with cattrs;
* ``platform SERVICE``: the service's app from ``event_contracts.create_app(SERVICE)`` with a
  no-op callback on ``Order.submit``, started with the platform's own worker command line
  (``event_contracts.runtime.worker_argv``: prefork, ``-E``, no mingle/gossip);
* ``publisher SERVICE``: the platform's publisher (``Publisher(create_app(SERVICE))``,
  ``order.submit()``) in a process of its own, with tracing configured from the ``OTEL_*``
  variables as the relay's process does; each line ``SECONDS THREADS`` on stdin is one
  max-load run, its publish instants and the CPU the process spent written to ``--out`` (JSON),
  then ``done`` on stdout. The telemetry comparison needs it: tracing is per process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

_fd: dict[int, int] = {}


def record(out: str, key: str) -> None:
    """Append ``key monotonic-time`` to ``out`` (one write syscall; opened once per process)."""
    now = time.monotonic()
    pid = os.getpid()
    fd = _fd.get(pid)
    if fd is None:
        fd = _fd[pid] = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{key} {now:.6f}\n".encode())


def run_kombu(args: argparse.Namespace) -> None:
    from kombu import Connection, Consumer, Queue

    with Connection(args.url, heartbeat=0) as conn:
        channel = conn.channel()
        channel.basic_qos(0, args.prefetch, False)
        queue = Queue(args.target, no_declare=True)

        def on_message(body: Any, message: Any) -> None:
            record(args.out, str(body["event_id"]))
            message.ack()

        with Consumer(channel, [queue], callbacks=[on_message], accept=["json"]):
            Path(args.ready).touch()
            while True:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=1)


def celery_worker_argv(args: argparse.Namespace) -> list[str]:
    argv = [
        "worker",
        "--hostname",
        f"{args.target}@%h",
        "--queues",
        args.target,
        "--pool",
        args.pool,
        "--concurrency",
        str(args.concurrency),
        "--loglevel",
        "WARNING",
    ]
    if args.like_platform:  # the platform's worker flags (event_contracts.runtime.worker_argv)
        argv += ["--task-events", "--without-mingle", "--without-gossip"]
    return argv


def on_ready(path: str) -> None:
    from celery.signals import worker_ready

    @worker_ready.connect(weak=False)
    def ready(**_: Any) -> None:
        Path(path).touch()


def run_celery(args: argparse.Namespace) -> None:
    from celery import Celery
    from kombu import Exchange, Queue

    app = Celery("bench", broker=args.url, set_as_current=True)
    exchange = Exchange(args.exchange, type="topic") if args.exchange else Exchange(args.target)
    app.conf.update(
        task_queues=[
            Queue(
                args.target,
                exchange,
                routing_key=args.binding or args.target,
                queue_arguments={"x-queue-type": "quorum"},
            )
        ],
        task_default_queue=args.target,
        task_acks_late=args.acks_late,
        worker_hijack_root_logger=False,
    )
    if args.like_platform:  # task events, unconfirmed as the platform's (ShopConsumer.connection_for_write)
        app.conf.worker_send_task_events = True

    @app.task(name=args.task or "bench.noop", shared=False)
    def noop(instance: dict[str, Any]) -> None:
        record(args.out, str(instance["event_id"]))

    on_ready(args.ready)
    app.worker_main(celery_worker_argv(args))


def run_seed(args: argparse.Namespace) -> None:
    import cattrs
    from celery import Celery
    from kombu import Exchange, Queue

    from bench.seed_phase import BINDING, EXCHANGE, TASK, SeedOrder

    app = Celery(args.target, broker=args.url, set_as_current=True)
    app.conf.task_queues = (
        Queue(
            args.target,
            Exchange(EXCHANGE, type="topic"),
            routing_key=BINDING,
            queue_arguments={"x-queue-type": "quorum"},
        ),
    )
    app.conf.worker_hijack_root_logger = False

    @app.task(name=TASK, shared=False)
    def submit(instance: dict[str, Any]) -> None:
        order = cattrs.structure(instance, SeedOrder)
        record(args.out, order.event_id)

    on_ready(args.ready)
    argv = ["worker", "--hostname", f"{args.target}@%h", "--pool", args.pool]
    app.worker_main([*argv, "--concurrency", str(args.concurrency), "--loglevel", "WARNING"])


def run_platform(args: argparse.Namespace) -> None:
    os.environ["WORKER_POOL"] = args.pool
    os.environ["WORKER_CONCURRENCY"] = str(args.concurrency)
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("WORKER_HEARTBEAT_FILE", f"{args.out}.heartbeat")
    from event_contracts import Order, create_app
    from event_contracts.runtime import run_worker, use_pool, worker_argv

    overrides = {k: json.loads(v) for k, _, v in (item.partition("=") for item in args.set)}
    app = create_app(
        args.target, broker_urls=args.url.split(";"), worker_hijack_root_logger=False, **overrides
    )

    @Order.submit.register_callback
    def handled(order: Order) -> None:
        record(args.out, str(order.event_id))

    on_ready(args.ready)
    if args.without_task_events:  # an experiment: what Flower's per-task events cost
        app.conf.worker_send_task_events = False
        use_pool(app)
        app.worker_main([a for a in worker_argv(args.target) if a != "--task-events"])
    else:  # two groups of one service side by side (telemetry off/on) need their own node names
        run_worker(app, ["--hostname", f"{args.target}-service@{args.name}.%h"] if args.name else [])


def run_publisher(args: argparse.Namespace) -> None:
    import sys

    from event_contracts import Publisher, create_app
    from event_contracts.service_defaults import tracing
    from opentelemetry import trace

    from bench.harness import max_load
    from bench.payload import new_order

    tracing.configure_tracing(args.target, "relay")  # OTEL_SDK_DISABLED / OTLP endpoint from the env
    app = create_app(args.target, broker_urls=args.url.split(";"))
    publisher = Publisher(app)

    def publish() -> str:
        order = new_order()
        order.submit(publisher=publisher)
        return str(order.event_id)

    Path(args.ready).touch()
    for line in sys.stdin:
        seconds, threads = line.split()
        cpu = time.process_time()
        load = max_load(publish, seconds=float(seconds), threads=int(threads))
        flush = getattr(trace.get_tracer_provider(), "force_flush", None)
        if flush is not None:  # the spans of this run exported within it
            flush()
        spent = time.process_time() - cpu
        run = {"started": load.started, "first": load.first, "last": load.last, "errors": load.errors}
        Path(args.out).write_text(json.dumps({**run, "cpu_seconds": spent}))
        print("done", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__)
    parser.add_argument("kind", choices=["kombu", "celery", "seed", "platform", "publisher"])
    parser.add_argument("target", help="queue (kombu, celery, seed) or service (platform, publisher)")
    parser.add_argument("--url", required=True, help="AMQP URL; ';'-separated failover list")
    parser.add_argument("--out", required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--exchange", default="")
    parser.add_argument("--binding", default="")
    parser.add_argument("--task", default="")
    parser.add_argument("--acks-late", action="store_true")
    parser.add_argument(
        "--like-platform",
        action="store_true",
        help="celery: the platform worker's settings besides the contracts (-E with unconfirmed events, "
        "no mingle/gossip)",
    )
    parser.add_argument(
        "--name", default="", help="platform: a node name of its own (<service>-service@<name>.host)"
    )
    parser.add_argument("--without-task-events", action="store_true", help="platform: no -E (experiment)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=JSON",
        help="platform: a Celery setting for create_app (experiments: worker_prefetch_multiplier=8)",
    )
    args = parser.parse_args(argv)
    runners = {
        "kombu": run_kombu,
        "celery": run_celery,
        "seed": run_seed,
        "platform": run_platform,
        "publisher": run_publisher,
    }
    runners[args.kind](args)


if __name__ == "__main__":
    main()
