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
"""

from __future__ import annotations

import statistics
from typing import Any

from bench import celery_phase, platform_phase
from bench.broker import BenchVhost
from bench.harness import close_app, consumers, measure_max_load, median_run, warm_up


def run(
    vhost: BenchVhost,
    *,
    seconds: float,
    publishers: int,
    warmup: float,
    drain: float,
    pool: str,
    concurrency: int,
    pairs: int = 3,
) -> dict[str, Any]:
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
                "celery": ("raw Celery, like platform", celery_publish, raw.handled()),
                "platform": ("platform", platform_publish, platform.handled()),
            }
            for name, publish, handled in sides.values():
                warm_up(name, publish, handled, seconds=warmup, publishers=publishers, drain=drain)
            runs: dict[str, list[dict[str, Any]]] = {"celery": [], "platform": []}
            for i in range(pairs):
                order = ("celery", "platform") if i % 2 == 0 else ("platform", "celery")
                for side in order:
                    name, publish, handled = sides[side]
                    runs[side].append(
                        measure_max_load(
                            f"{name} {i + 1}/{pairs}",
                            publish,
                            handled,
                            seconds=seconds,
                            publishers=publishers,
                            drain=drain,
                        )
                    )
    finally:
        close_app(celery_app)
        close_app(platform_app)
    ratios = [
        round(p["throughput"] / c["throughput"], 3) if c["throughput"] else None
        for c, p in zip(runs["celery"], runs["platform"], strict=True)
    ]
    known = [r for r in ratios if r is not None]
    return {
        "celery": median_run(runs["celery"]),
        "platform": median_run(runs["platform"]),
        "pairs": [
            {"celery": c["throughput"], "platform": p["throughput"], "ratio": r}
            for c, p, r in zip(runs["celery"], runs["platform"], ratios, strict=True)
        ],
        "ratio_median": round(statistics.median(known), 3) if known else None,
    }
