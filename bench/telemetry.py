"""What tracing and metrics cost the layer: the platform with telemetry off against on, paired.

Both sides are the platform as deployed (billing's and logistic's workers, ``order.submit()``
through order-service's publisher), each in processes of its own, because tracing is set up
per process:

* **off**: ``OTEL_SDK_DISABLED=true`` (no spans, no trace headers, no instrumentation), no
  ``METRICS_PORT`` and no ``PROMETHEUS_MULTIPROC_DIR`` (no listener, no value files);
* **on**: spans recorded and exported over OTLP/HTTP (``OTEL_EXPORTER_OTLP_ENDPOINT``) to the
  benchmark's receiver (:mod:`bench.otlp_sink`, a process of its own whose CPU is not counted),
  and metrics in multiprocess mode with the ``/metrics`` listener on a loopback port, as the
  images run them.

The sides are measured back to back in pairs, alternating which goes first (ABBA), like the
layer's raw Celery / platform pairs. Each measurement counts the CPU its side spent while it
ran, drained and flushed its spans (publisher process, the two consumers with their pool
children, the three broker nodes), divided by the events delivered. After each measurement,
both sides alike, the bench waits until the receiver got no span for ``settle`` s: the batch
span processors export every 5 s, and those exports belong to the measurement that made the
spans. A side "on" whose receiver got no span is invalid (``--check`` fails).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

from bench import otlp_sink, platform_phase
from bench.broker import BenchVhost
from bench.harness import REPO, Consumers, Load, consumers, measure, median_run, worker_env
from bench.stack_cpu import StackCpu, delta, per_unit

SIDES = ("off", "on")


def environment(
    side: str, service: str, *, sink: otlp_sink.Sink | None, workdir: Path
) -> dict[str, str | None]:
    """The telemetry variables of one process of ``side`` (a None value unsets the variable)."""
    if side == "off":
        return {
            "OTEL_SDK_DISABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": None,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": None,
            "METRICS_PORT": None,
            "PROMETHEUS_MULTIPROC_DIR": None,
        }
    assert sink is not None
    return {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint(),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "METRICS_PORT": str(otlp_sink.free_port()),
        "METRICS_ADDR": "127.0.0.1",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{service}"),
    }


class RemotePublisher:
    """order-service's publisher in a process of its own (``python -m bench.workers publisher``)."""

    def __init__(self, workdir: Path, name: str, vhost: BenchVhost, env: Mapping[str, str | None]) -> None:
        self.out = workdir / f"{name}.published"
        ready = workdir / f"{name}.ready"
        self.log = workdir / f"{name}.log"
        self.cpu_seconds = 0.0
        """CPU the process spent in its runs so far (publishing, and flushing its spans)."""
        argv = [sys.executable, "-m", "bench.workers", "publisher", "order"]
        argv += [
            "--url",
            ";".join(vhost.urls("order-service")),
            "--out",
            str(self.out),
            "--ready",
            str(ready),
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=REPO, env=worker_env(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
            )
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"publisher {name} did not start; its log:\n{self.log.read_text()[-3000:]}"
                )
            time.sleep(0.1)  # polling its start-up, with a deadline

    def load(self, seconds: float, threads: int) -> Callable[[Load], Load]:
        """A load for :func:`bench.harness.measure`: one max-load run in the process."""

        def run(into: Load) -> Load:
            stdin: IO[bytes] | None = self.process.stdin
            stdout: IO[bytes] | None = self.process.stdout
            assert stdin is not None and stdout is not None
            stdin.write(f"{seconds} {threads}\n".encode())
            stdin.flush()
            while (line := stdout.readline()).strip() != b"done":  # anything a library printed
                if not line:
                    raise RuntimeError(f"publisher stopped; its log:\n{self.log.read_text()[-3000:]}")
            data = json.loads(self.out.read_text())
            into.started.update(data["started"])
            into.first, into.last, into.errors = data["first"], data["last"], data["errors"]
            self.cpu_seconds += data["cpu_seconds"]
            return into

        return run

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def side(
    name: str,
    vhost: BenchVhost,
    *,
    pool: str,
    concurrency: int,
    sink: otlp_sink.Sink | None,
) -> Iterator[tuple[Consumers, RemotePublisher, dict[str, str]]]:
    """One side's consumers and publisher, running; yields them and each consumer's metrics URL."""
    with consumers() as group, ExitStack() as cleanup:
        envs = {
            service: environment(name, service, sink=sink, workdir=group.workdir)
            for service in ("billing", "logistic", "order")
        }
        platform_phase.start_platform_consumers(
            group,
            vhost,
            pool=pool,
            concurrency=concurrency,
            env=lambda service: envs[service],
            name=f"telemetry-{name}",
        )
        publisher = RemotePublisher(group.workdir, f"publisher-{name}", vhost, envs["order"])
        cleanup.callback(publisher.stop)
        group.wait_ready()
        listeners = {
            s: f"http://127.0.0.1:{e['METRICS_PORT']}/metrics"
            for s, e in envs.items()
            if e.get("METRICS_PORT") and s != "order"
        }
        yield group, publisher, listeners


def served_metrics(listeners: Mapping[str, str]) -> dict[str, bool]:
    """Each consumer's ``/metrics`` answers with the handler counter (metrics really on)."""
    found = {}
    for service, url in listeners.items():
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                found[service] = b"shop_handler_outcomes_total" in response.read()
        except OSError:
            found[service] = False
    return found


def layer_pairs(
    vhost: BenchVhost,
    *,
    seconds: float,
    publishers: int,
    warmup: float,
    drain: float,
    pool: str,
    concurrency: int,
    pairs: int,
    stack: StackCpu | None,
    vhost_on: AbstractContextManager[BenchVhost],
    settle: float = 6.0,
) -> dict[str, Any]:
    """The platform with telemetry off and on, ``pairs`` alternating pairs; CPU per event each.

    The "on" side runs in a vhost of its own (``vhost_on``): both sides' workers consume the
    same service queues, which in one vhost would share the events between them."""
    with ExitStack() as running:
        sink = running.enter_context(otlp_sink.running())
        hosts = {"off": vhost, "on": running.enter_context(vhost_on)}
        sides = {
            name: running.enter_context(
                side(name, hosts[name], pool=pool, concurrency=concurrency, sink=sink)
            )
            for name in SIDES
        }
        handled = {name: group.handled() for name, (group, _, _) in sides.items()}
        for name, (_, publisher, _) in sides.items():
            if warmup:
                measure(
                    f"telemetry {name} warm-up",
                    publisher.load(warmup, publishers),
                    handled[name],
                    drain_timeout=drain,
                )
        sink.settle(settle)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SIDES}
        for i in range(pairs):
            for name in SIDES if i % 2 == 0 else SIDES[::-1]:
                group, publisher, _ = sides[name]
                spans = sink.spans()
                before = _cpu(group, publisher, stack)
                result = measure(
                    f"telemetry {name} {i + 1}/{pairs}",
                    publisher.load(seconds, publishers),
                    handled[name],
                    drain_timeout=drain,
                )
                result["spans_exported"] = sink.settle(settle) - spans
                result["cpu_ms_per_event"] = per_unit(
                    delta(before, _cpu(group, publisher, stack)), result["delivered"]
                )
                runs[name].append(result)
        metrics_served = served_metrics(sides["on"][2])
        received = sink.stats()
    return summarize(runs, metrics_served=metrics_served, received=received)


def summarize(
    runs: dict[str, list[dict[str, Any]]], *, metrics_served: dict[str, bool], received: dict[str, int]
) -> dict[str, Any]:
    """Both sides' median runs, every pair's CPU per event and their ratio, the median ratio."""
    pairs = []
    for off, on in zip(runs["off"], runs["on"], strict=True):
        off_ms = (off.get("cpu_ms_per_event") or {}).get("total_ms")
        on_ms = (on.get("cpu_ms_per_event") or {}).get("total_ms")
        pairs.append(
            {
                "off": off["throughput"],
                "on": on["throughput"],
                "off_cpu_ms": off.get("cpu_ms_per_event"),
                "on_cpu_ms": on.get("cpu_ms_per_event"),
                "cpu_ratio": round(on_ms / off_ms, 3) if on_ms and off_ms else None,
                "spans_exported": on["spans_exported"],
            }
        )
    known = [p["cpu_ratio"] for p in pairs if p["cpu_ratio"] is not None]
    on_runs = [dict(r) for r in runs["on"]]
    return {
        "off": median_run(runs["off"]),
        "on": {**median_run(on_runs), "spans_exported": min(r["spans_exported"] for r in on_runs)},
        "pairs": pairs,
        "cpu_ratio_median": round(statistics.median(known), 3) if known else None,
        "metrics_served": metrics_served,
        "sink": received,
    }


def _cpu(group: Consumers, publisher: RemotePublisher, stack: StackCpu | None) -> dict[str, float]:
    """CPU seconds so far: the side's publisher process, its consumers, the broker."""
    spent = {"publisher": publisher.cpu_seconds}
    consumers_cpu = group.cpu_seconds()
    if consumers_cpu is not None:
        spent["consumers"] = consumers_cpu
    if stack:
        spent["broker"] = sum(v for k, v in stack.sample().items() if k.startswith("rabbit"))
    return spent
