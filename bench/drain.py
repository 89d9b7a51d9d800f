"""The consumers' own capacity: a backlog built while they do not consume, then drained.

At maximum load the publishers and the consumers share the host's cores while the publishers
run, and the consumers have the cores to themselves once they stop. How long each side's
publishers run differs by design (the platform's confirmed publishes are slower than the seed
design's unconfirmed ones), so a rate from the first publish to the last handled event mixes
the consumers' capacity with the publishers' speed. Draining a backlog measures the consumers
(and the broker delivering to them) alone, on the same footing on both sides:

1. Celery's remote control ``cancel_consumer`` stops each worker consuming its queue; the
   worker stays up and warm (pool started, connection open). The broker's own consumer count
   (a passive ``queue.declare``) is awaited at 0 on every queue: the control reply comes before
   the worker has acted on it.
2. ``backlog`` events are published (the phase's publishers, threads as configured) and every
   queue is awaited holding all of them.
3. ``add_consumer`` starts both workers consuming again; from that instant until every consumer
   handled every event is the drain: events handled by both, per second.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from event_contracts.testing import wait_until

from bench.harness import _run_threads

Publish = Callable[[], str]


def drain_summary(
    keys: Sequence[str],
    released: float,
    handled: Sequence[Mapping[str, float]],
    *,
    publish_seconds: float = 0.0,
    cpu_seconds: float | None = None,
) -> dict[str, Any]:
    """Events handled per second by every consumer, from ``released`` (the instant the consumers
    were told to consume again) to the last consumer's last handled event of ``keys``.

    ``handled``: per consumer, event key → the instant its handler finished (other keys are
    ignored). Each consumer's own rate is in ``consumers`` (its handled / its own span).
    """
    wanted = set(keys)
    mine = [{k: t for k, t in seen.items() if k in wanted} for seen in handled]
    delivered = len(wanted.intersection(*mine)) if mine else 0
    lasts = [max(seen.values()) for seen in mine if seen]
    span = max(lasts) - released if lasts else 0.0
    consumers = [
        {
            "handled": len(seen),
            "rate": round(len(seen) / (max(seen.values()) - released), 1) if seen else 0.0,
        }
        for seen in mine
    ]
    return {
        "published": len(wanted),
        "delivered": delivered,
        "lost": len(wanted) - delivered,
        "throughput": round(delivered / span, 1) if span > 0 else 0.0,
        "seconds": round(span, 2),
        "publish_rate": round(len(wanted) / publish_seconds, 1) if publish_seconds > 0 else 0.0,
        "consumers": consumers,
        "consumer_cpu_ms_per_event": (
            round(cpu_seconds * 1000 / delivered, 3) if cpu_seconds is not None and delivered else None
        ),
    }


def pairs_summary(measured: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Alternating drains (:mod:`bench.fanout_pairs`): each pair's drained rates and ratio
    (platform / seed), the median ratio (the verdict) and rates, and what the drains lost."""
    rows = []
    for pair in measured:
        platform, seed = pair["platform"], pair["seed"]
        rows.append(
            {
                "platform": platform["throughput"],
                "seed": seed["throughput"],
                "ratio": round(platform["throughput"] / seed["throughput"], 3) if seed["throughput"] else 0.0,
                "platform_cpu_ms_per_event": platform.get("consumer_cpu_ms_per_event"),
                "seed_cpu_ms_per_event": seed.get("consumer_cpu_ms_per_event"),
                "lost": platform["lost"] + seed["lost"],
            }
        )
    if not rows:
        return {"pairs": [], "ratio": None, "platform": None, "seed": None, "lost": 0}
    return {
        "pairs": rows,
        "ratio": round(statistics.median(r["ratio"] for r in rows), 3),
        "platform": round(statistics.median(r["platform"] for r in rows), 1),
        "seed": round(statistics.median(r["seed"] for r in rows), 1),
        "lost": sum(r["lost"] for r in rows),
    }


def publish_count(publish: Publish, *, count: int, threads: int) -> tuple[list[str], int, float]:
    """Publish ``count`` messages from ``threads`` threads, as fast as they go.

    Returns the keys, the number of failed publishes, and the seconds it took."""
    lock = threading.Lock()
    remaining = iter(range(count))
    keys: list[str] = []
    errors = 0

    def loop(_: int) -> None:
        nonlocal errors
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            try:
                key = publish()
            except Exception:  # counted: a failed publish is a lost event in the summary
                with lock:
                    errors += 1
                continue
            with lock:
                keys.append(key)

    start = time.monotonic()
    for worker in _run_threads(loop, threads):
        worker.join()
    return keys, errors, time.monotonic() - start


def _queue_state(url: str, queues: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each queue's (ready messages, consumers), from the queue itself (passive declare: no
    management statistics interval in between)."""
    from kombu import Connection

    with Connection(url) as conn:
        channel = conn.channel()
        state = {}
        for name in queues:
            _, messages, consumers = channel.queue_declare(queue=name, passive=True)
            state[name] = (messages, consumers)
        return state


def measure_drain(
    name: str,
    *,
    url: str,
    queues: Sequence[str],
    publish: Publish,
    handled: Any,
    backlog: int,
    publishers: int,
    drain: float,
    cpu_seconds: Callable[[], float | None] = lambda: None,
) -> dict[str, Any]:
    """Hold the workers consuming ``queues`` (one worker per queue), publish ``backlog`` events,
    release them and summarize the drain (:func:`drain_summary`).

    ``url``: an AMQP URL with the rights to broadcast remote-control commands and to declare
    ``queues`` passively (the vhost's admin); ``handled``: the phase's :class:`bench.harness.Handled`.
    """
    from celery import Celery

    control = Celery(f"bench-drain-{name}", broker=url, set_as_current=False).control
    try:
        nodes = _nodes_of(control, queues)
        for queue, node in nodes.items():
            if not control.cancel_consumer(queue, destination=[node], reply=True, timeout=10):
                raise RuntimeError(f"drain: {node} did not answer cancel_consumer({queue})")
        wait_until(
            lambda: all(consumers == 0 for _, consumers in _queue_state(url, queues).values()),
            timeout=30,
            what=f"drain: no consumer on {', '.join(queues)}",
            interval=0.1,
        )
        keys, errors, publish_seconds = publish_count(publish, count=backlog, threads=publishers)
        wait_until(
            lambda: all(messages >= len(keys) for messages, _ in _queue_state(url, queues).values()),
            timeout=60,
            what=f"drain: {len(keys)} messages ready in each of {', '.join(queues)}",
            interval=0.1,
        )
        handled.poll()
        cpu_before = cpu_seconds()
        released = time.monotonic()
        for queue, node in nodes.items():
            control.add_consumer(queue, destination=[node], reply=False)
        wanted = set(keys)
        print(f"{name}: draining a backlog of {len(keys)} events", flush=True)

        def drained() -> bool:
            handled.poll()
            return all(wanted <= seen.keys() for seen in handled.seen)

        # what is not handled by the deadline counts as lost in the summary
        with contextlib.suppress(TimeoutError):
            wait_until(drained, timeout=drain, what="the backlog drained", interval=0.1)
        cpu_after = cpu_seconds()
    finally:
        control.app.close()
    spent = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    result = drain_summary(keys, released, handled.seen, publish_seconds=publish_seconds, cpu_seconds=spent)
    result["publish_errors"] = errors
    result["lost"] += errors
    result["published"] += errors
    return result


def _nodes_of(control: Any, queues: Sequence[str]) -> dict[str, str]:
    """Queue → the worker node consuming it (``inspect().active_queues()``)."""
    replies = control.inspect(timeout=10, limit=len(queues)).active_queues() or {}
    nodes = {}
    for node, active in replies.items():
        for queue in active:
            if queue["name"] in queues:
                nodes[queue["name"]] = node
    missing = [q for q in queues if q not in nodes]
    if missing:
        raise RuntimeError(f"drain: no worker consuming {missing}; workers answered {sorted(replies)}")
    return nodes
