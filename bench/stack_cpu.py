"""CPU time the stack's containers spend, per compose service, read from the Docker Engine API.

Throughput on a shared 2-core host says little by itself; CPU milliseconds per request (the
edge) and per order (the pipeline behind it) say where the cores go and what any rate can be
at most. Counters are cumulative, so a phase's cost is the difference of two samples.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

HOST = "host (every process)"


class StackCpu:
    """Cumulative CPU seconds of compose project ``project``'s containers, summed per service."""

    def __init__(self, project: str) -> None:
        import docker  # the benchmark's dependency; imported here so the rest runs without it

        self.client = docker.from_env(version="auto")  # "auto": one-shot stats need API >= 1.41
        self.project = project
        self.local = self.client.api.base_url.startswith("http+docker://localhost")
        self.cores = os.cpu_count() or 1

    def sample(self) -> dict[str, float]:
        """Service -> CPU seconds since its containers started; plus the host's busy seconds when
        the engine runs here (client, docker-proxy and dockerd are CPU the edge competes with)."""
        totals: dict[str, float] = {}
        for container in self.client.containers.list(
            filters={"label": f"com.docker.compose.project={self.project}"}
        ):
            stats: dict[str, Any] = container.stats(stream=False, one_shot=True)
            service = container.labels.get("com.docker.compose.service", container.name)
            usage = stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9
            totals[service] = totals.get(service, 0.0) + usage
        host = _host_busy_seconds() if self.local else None
        if host is not None:
            totals[HOST] = host
        return totals

    def wait_until_quiet(
        self, *, below_cores: float = 0.25, window: float = 2.0, timeout: float = 60.0
    ) -> float:
        """Until the stack uses less than ``below_cores`` over ``window`` s (compaction, GC or a
        drain left by an earlier phase would be measured as the next phase's cost). Returns the
        seconds waited; gives up after ``timeout``."""
        start = time.monotonic()
        before, since = self.sample(), time.monotonic()
        while True:
            time.sleep(window)  # the measuring interval, not synchronisation
            after, now = self.sample(), time.monotonic()
            busy = sum(v for k, v in delta(before, after).items() if k != HOST) / (now - since)
            if busy < below_cores or now - start > timeout:
                return round(now - start, 1)
            before, since = after, now


def delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds spent between two samples, per service (services in both)."""
    return {k: after[k] - before[k] for k in after if k in before}


def per_unit(
    spent: Mapping[str, float],
    units: int,
    *,
    exclude: tuple[str, ...] = (),
    only: tuple[str, ...] = (),
) -> dict[str, Any]:
    """CPU milliseconds per request/order: per service (largest first), their total, and the
    host's (unless ``only`` picks services)."""
    if units <= 0:
        return {}
    services = {
        k: round(v * 1000 / units, 3)
        for k, v in sorted(spent.items(), key=lambda kv: -kv[1])
        if k != HOST and k not in exclude and (not only or k in only)
    }
    out: dict[str, Any] = {"ms_per_unit": services, "total_ms": round(sum(services.values()), 3)}
    if HOST in spent and not only:
        out["host_ms"] = round(spent[HOST] * 1000 / units, 3)
    return out


def _host_busy_seconds() -> float | None:
    """Non-idle CPU seconds of the whole machine (/proc/stat), None off Linux."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq; steal (taken by the hypervisor) is not ours
    busy = sum(fields[:7]) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")
