"""The event-contracts layer's cost: raw Celery and the platform measured in alternating pairs.

Like for like: both sides publish with confirms to a topic exchange fanned out to two quorum
queues, and both run two workers (prefork, acks late) with task events on (``-E``, published
with confirms, as Flower needs them) and without mingle or gossip. What differs is only the
layer: contract classes and encoding, headers, mandatory publish, the consumer's guards,
per-service task ids, upcasting. So the ratio platform / raw Celery is the layer's cost.

On this shared 2-core host one measurement moves by up to ±15% from run to run, as much as
the 10% being measured, and sequential phases also drift apart (Erlang garbage collection, the
disk, other processes). Here both consumer groups run side by side for the whole phase, and
each pair measures both sides back to back, alternating which goes first (ABBA): drift falls on
both sides alike. The verdict is the median of the pairs' ratios, with every pair shown.

Throughput is the target's measure, but on this CPU-bound host it moves with everything else
running. CPU per event does not: each measurement also counts the CPU its side spent (this
process's publishers, that side's consumer processes, and the three broker nodes when the
Docker API is reachable) divided by the events delivered, so the layer's cost shows up as
CPU milliseconds, and where they go.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from bench import celery_phase, platform_phase, telemetry
from bench.broker import BenchVhost
from bench.harness import Consumers, close_app, consumers, measure_max_load, median_run, warm_up
from bench.stack_cpu import StackCpu, delta, per_unit


def run(
    vhost: BenchVhost,
    *,
    seconds: float,
    publishers: int,
    warmup: float,
    drain: float,
    pool: str,
    concurrency: int,
    pairs: int = 5,
    stack: StackCpu | None = None,
    telemetry_pairs: int = 0,
    new_vhost: Callable[[], AbstractContextManager[BenchVhost]] | None = None,
) -> dict[str, Any]:
    """The raw Celery / platform pairs; then, with ``telemetry_pairs``, the platform with
    telemetry off / on in as many pairs (:mod:`bench.telemetry`), under ``telemetry``."""
    celery_app, celery_publish = celery_phase.fanout_publisher(vhost.url())
    platform_app, platform_publish = platform_phase.platform_publisher(vhost)
    try:
        with consumers() as raw, consumers() as platform:
            celery_phase.start_fanout_consumers(
                raw, vhost.url(), pool=pool, concurrency=concurrency, like_platform=True
            )
            platform_phase.start_platform_consumers(platform, vhost, pool=pool, concurrency=concurrency)
            raw.wait_ready()
            platform.wait_ready()
            sides = {
                "celery": ("raw Celery, like platform", celery_publish, raw.handled(), raw),
                "platform": ("platform", platform_publish, platform.handled(), platform),
            }
            for name, publish, handled, _ in sides.values():
                warm_up(name, publish, handled, seconds=warmup, publishers=publishers, drain=drain)
            runs: dict[str, list[dict[str, Any]]] = {"celery": [], "platform": []}
            for i in range(pairs):
                order = ("celery", "platform") if i % 2 == 0 else ("platform", "celery")
                for side in order:
                    name, publish, handled, group = sides[side]
                    before = _cpu(group, stack)
                    result = measure_max_load(
                        f"{name} {i + 1}/{pairs}",
                        publish,
                        handled,
                        seconds=seconds,
                        publishers=publishers,
                        drain=drain,
                    )
                    spent = delta(before, _cpu(group, stack))
                    result["cpu_ms_per_event"] = per_unit(spent, result["delivered"])
                    runs[side].append(result)
    finally:
        close_app(celery_app)
        close_app(platform_app)
    ratios = [
        round(p["throughput"] / c["throughput"], 3) if c["throughput"] else None
        for c, p in zip(runs["celery"], runs["platform"], strict=True)
    ]
    known = [r for r in ratios if r is not None]
    cpu_ratios = [
        round(p["cpu_ms_per_event"]["total_ms"] / c["cpu_ms_per_event"]["total_ms"], 3)
        if c["cpu_ms_per_event"].get("total_ms") and p["cpu_ms_per_event"]
        else None
        for c, p in zip(runs["celery"], runs["platform"], strict=True)
    ]
    cpu_known = [r for r in cpu_ratios if r is not None]
    result = {
        "celery": median_run(runs["celery"]),
        "platform": median_run(runs["platform"]),
        "pairs": [
            {
                "celery": c["throughput"],
                "platform": p["throughput"],
                "ratio": r,
                "celery_cpu_ms": c["cpu_ms_per_event"],
                "platform_cpu_ms": p["cpu_ms_per_event"],
                "cpu_ratio": cr,
            }
            for c, p, r, cr in zip(runs["celery"], runs["platform"], ratios, cpu_ratios, strict=True)
        ],
        "ratio_median": round(statistics.median(known), 3) if known else None,
        "cpu_ratio_median": round(statistics.median(cpu_known), 3) if cpu_known else None,
    }
    if telemetry_pairs:
        try:
            result["telemetry"] = telemetry.layer_pairs(
                vhost,
                seconds=seconds,
                publishers=publishers,
                warmup=warmup,
                drain=drain,
                pool=pool,
                concurrency=concurrency,
                pairs=telemetry_pairs,
                stack=stack,
                vhost_on=new_vhost() if new_vhost else nullcontext(vhost),
            )
        except Exception as exc:  # shown, and --check fails on it
            print(f"bench: telemetry pairs failed ({exc!r})")
            result["telemetry"] = {"skipped": repr(exc)}
    return result


def _cpu(group: Consumers, stack: StackCpu | None) -> dict[str, float]:
    """CPU seconds so far: this process (the publishers), the side's consumers, the broker."""
    spent = {"publisher": time.process_time()}
    consumers_cpu = group.cpu_seconds()
    if consumers_cpu is not None:
        spent["consumers"] = consumers_cpu
    if stack:
        spent["broker"] = sum(v for k, v in stack.sample().items() if k.startswith("rabbit"))
    return spent
