"""The fan-out against the seed design in alternating drains: the ratio as a median of pairs.

One drain per side (the platform's and the seed phase's own, :mod:`bench.drain`) is a single
measurement of each side, minutes apart; on a shared host one of them moves by a third between
runs, so a single ratio cannot resolve the target. Here both sides' consumers run at once, each
in its own vhost, and the drains alternate (platform then seed, then seed then platform, ...):
each pair's ratio is platform / seed, and the verdict is their median, as the layer's pairs are.
Whichever side is held publishes and drains while the other's workers sit idle and held.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from bench.broker import Management, bench_vhost
from bench.drain import measure_drain, pairs_summary
from bench.harness import close_app, consumers, warm_up
from bench.platform_phase import DRAINED_QUEUES, platform_publisher, start_platform_consumers
from bench.seed_phase import QUEUES, seed_publisher, start_seed_consumers


def run(
    management: Management,
    ports: Sequence[int],
    *,
    pairs: int,
    backlog: int,
    publishers: int,
    warmup: float,
    drain: float,
    pool: str,
    platform_pool: str,
    concurrency: int,
) -> dict[str, Any]:
    with (
        bench_vhost(management, ports) as platform_vhost,
        bench_vhost(management, ports, prefix="bench-seed", topology=False) as seed_vhost,
        consumers() as platform_group,
        consumers() as seed_group,
    ):
        names = f"{platform_vhost.name}, {seed_vhost.name}"
        print(f"bench: {pairs} alternating drains of {backlog} events each side ({names})")
        start_platform_consumers(platform_group, platform_vhost, pool=platform_pool, concurrency=concurrency)
        seed_url = seed_vhost.url()
        start_seed_consumers(seed_group, seed_url, pool=pool, concurrency=concurrency)
        platform_group.wait_ready()
        seed_group.wait_ready()
        platform_app, platform_publish = platform_publisher(platform_vhost)
        seed_app, seed_publish = seed_publisher(seed_url)
        try:
            platform_handled, seed_handled = platform_group.handled(), seed_group.handled()
            warm_up(
                "platform drains",
                platform_publish,
                platform_handled,
                seconds=warmup,
                publishers=publishers,
                drain=drain,
            )
            warm_up(
                "seed drains", seed_publish, seed_handled, seconds=warmup, publishers=publishers, drain=drain
            )
            drain_backlog = partial(measure_drain, backlog=backlog, publishers=publishers, drain=drain)
            sides = {
                "platform": partial(
                    drain_backlog,
                    "platform",
                    url=platform_vhost.url(),
                    queues=DRAINED_QUEUES,
                    publish=platform_publish,
                    handled=platform_handled,
                    cpu_seconds=platform_group.cpu_seconds,
                ),
                "seed": partial(
                    drain_backlog,
                    "seed design",
                    url=seed_url,
                    queues=list(QUEUES.values()),
                    publish=seed_publish,
                    handled=seed_handled,
                    cpu_seconds=seed_group.cpu_seconds,
                ),
            }
            measured = []
            for index in range(pairs):
                order = ("platform", "seed") if index % 2 == 0 else ("seed", "platform")
                pair = {side: sides[side]() for side in order}
                measured.append(pair)
            return {**pairs_summary(measured), "platform_pool": platform_pool}
        finally:
            close_app(platform_app)
            close_app(seed_app)
