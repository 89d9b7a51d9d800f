"""CPU time the stack's containers spend, per compose service: each container's cgroup counter
when the Docker engine runs on this host, else the Docker Engine API's stats.

Throughput on a shared 2-core host says little by itself; CPU milliseconds per request (the
edge) and per order (the pipeline behind it) say where the cores go and what any rate can be
at most. Counters are cumulative, so a phase's cost is the difference of two samples.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

HOST = "host (every process)"


class StackCpu:
    """Cumulative CPU seconds of compose project ``project``'s containers, summed per service."""

    def __init__(self, project: str) -> None:
        import docker  # the benchmark's dependency; imported here so the rest runs without it

        self.client = docker.from_env(version="auto")  # "auto": one-shot stats need API >= 1.41
        self.project = project
        self.local = self.client.api.base_url.startswith("http+docker://localhost")
        self.cores = os.cpu_count() or 1
        self._counters: dict[str, _CgroupCounter | None] = {}

    def sample(self) -> dict[str, float]:
        """Service -> CPU seconds since its containers started; plus the host's busy seconds when
        the engine runs here (client, docker-proxy and dockerd are CPU the edge competes with)."""
        totals: dict[str, float] = {}
        for container in self.client.containers.list(
            sparse=True, filters={"label": f"com.docker.compose.project={self.project}"}
        ):
            labels = container.attrs.get("Labels") or {}
            service = labels.get("com.docker.compose.service", container.id)
            totals[service] = totals.get(service, 0.0) + self._usage(container)
        host = _host_busy_seconds() if self.local else None
        if host is not None:
            totals[HOST] = host
        return totals

    def _usage(self, container: Any) -> float:
        """The container's CPU seconds: its cgroup's counter when the engine runs here (read at
        once), else the Engine API's stats (the daemon answers each on its next 1 s collection)."""
        if self.local:
            if container.id not in self._counters:
                self._counters[container.id] = _cgroup_counter(
                    self.client.api.inspect_container(container.id)
                )
            counter = self._counters[container.id]
            if counter is not None:
                try:
                    return counter.read()
                except OSError:  # gone meanwhile, or another mount: ask the engine
                    self._counters[container.id] = None
        stats: dict[str, Any] = self.client.api.stats(container.id, stream=False, one_shot=True)
        return float(stats["cpu_stats"]["cpu_usage"]["total_usage"]) / 1e9

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


@attrs.frozen
class _CgroupCounter:
    """A container's cumulative CPU counter file: cgroup v1 ``cpuacct.usage`` (ns) or cgroup v2
    ``cpu.stat``'s ``usage_usec``."""

    path: Path

    def read(self) -> float:
        text = self.path.read_text()
        if self.path.name == "cpuacct.usage":
            return int(text) / 1e9
        usage = next(line for line in text.splitlines() if line.startswith("usage_usec "))
        return int(usage.split()[1]) / 1e6


def _cgroup_counter(
    inspected: Mapping[str, Any], root: Path = Path("/sys/fs/cgroup")
) -> _CgroupCounter | None:
    """The CPU counter of a running container (``docker inspect``'s answer), found through its
    main process's ``/proc/<pid>/cgroup``; None when it is not readable from here."""
    pid = (inspected.get("State") or {}).get("Pid")
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines() if pid else []
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):  # cgroup v1: /sys/fs/cgroup/cpuacct<path>
            mounted = next((root / d for d in ("cpuacct", "cpu,cpuacct") if (root / d).is_dir()), None)
            candidate = mounted / path.lstrip("/") / "cpuacct.usage" if mounted else None
        elif controllers == "":  # cgroup v2 (the unified line "0::<path>")
            candidate = root / path.lstrip("/") / "cpu.stat"
        else:
            continue
        if candidate is not None and candidate.is_file():
            counter = _CgroupCounter(candidate)
            try:
                counter.read()
            except (OSError, ValueError, StopIteration):
                continue
            return counter
    return None


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
