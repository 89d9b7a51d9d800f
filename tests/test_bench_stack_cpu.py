"""The benchmark reads a container's CPU from its cgroup counter (bench/stack_cpu.py).

The Engine API's stats answer each container on the daemon's next 1 s collection, so the bench
reads the counter file the kernel keeps for the container's cgroup instead; these check that
the file is found from the container's main process (``/proc/<pid>/cgroup``) on cgroup v1 and
v2, read in seconds, and that an unreadable one falls back (None) instead of reading 0.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

STACK_CPU = Path(__file__).resolve().parent.parent / "bench" / "stack_cpu.py"


def load_stack_cpu() -> ModuleType:
    """bench/stack_cpu.py alone (the Docker SDK is imported only by StackCpu itself)."""
    spec = importlib.util.spec_from_file_location("bench_stack_cpu", STACK_CPU)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stack_cpu = load_stack_cpu()
OWN_CGROUPS = {
    controllers: path
    for _, controllers, path in (
        line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()
    )
}
INSPECTED = {"State": {"Pid": os.getpid()}}  # this test process stands in for a container's


@pytest.mark.skipif(
    not any("cpuacct" in c.split(",") for c in OWN_CGROUPS),
    reason="no cgroup v1 cpuacct here",
)
def test_cgroup_v1_counter_is_cpuacct_usage_in_nanoseconds(tmp_path: Path) -> None:
    path = next(p for c, p in OWN_CGROUPS.items() if "cpuacct" in c.split(","))
    directory = tmp_path / "cpuacct" / path.lstrip("/")
    directory.mkdir(parents=True)
    (directory / "cpuacct.usage").write_text("2500000000\n")

    counter = stack_cpu._cgroup_counter(INSPECTED, root=tmp_path)

    assert counter is not None
    assert counter.read() == pytest.approx(2.5)


@pytest.mark.skipif("" not in OWN_CGROUPS, reason="no cgroup v2 (unified) line here")
def test_cgroup_v2_counter_is_cpu_stat_usage_in_microseconds(tmp_path: Path) -> None:
    directory = tmp_path / OWN_CGROUPS[""].lstrip("/")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cpu.stat").write_text("usage_usec 1250000\nuser_usec 1000000\nsystem_usec 250000\n")

    counter = stack_cpu._cgroup_counter(INSPECTED, root=tmp_path)

    assert counter is not None
    assert counter.read() == pytest.approx(1.25)


def test_no_counter_file_means_no_counter(tmp_path: Path) -> None:
    assert stack_cpu._cgroup_counter(INSPECTED, root=tmp_path) is None
    assert stack_cpu._cgroup_counter({"State": {"Pid": 0}}, root=tmp_path) is None
