"""What every broker phase shares: consumer subprocesses, load generators, the handled-log reader.

A phase hands :func:`max_load` or :func:`paced_load` a ``publish(key)`` function; both record
when each publish *started* (``CLOCK_MONOTONIC``; for the paced load, the instant it was
*scheduled*, so a publisher that falls behind shows up as latency instead of hiding it). The
consumers (subprocesses, see :mod:`bench.workers`) append ``key instant`` lines when their
handler ran; :class:`Handled` reads those files. An event counts as delivered when every
consumer of the fan-out handled it; its latency ends at the last of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import attrs

REPO = Path(__file__).resolve().parent.parent
Publish = Callable[[], str]
"""Publishes one message and returns its key (event id); called from publisher threads."""


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (any order), ``p`` in 0..100."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@attrs.define
class Handled:
    """Reads the consumers' ``key instant`` files incrementally."""

    paths: list[Path]
    seen: list[dict[str, float]] = attrs.field(init=False)
    complete: int = attrs.field(init=False, default=0)
    _offsets: list[int] = attrs.field(init=False)
    _partial: list[bytes] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.seen = [{} for _ in self.paths]
        self._offsets = [0 for _ in self.paths]
        self._partial = [b"" for _ in self.paths]

    def poll(self) -> int:
        """Read what was appended since the last poll; returns how many keys are complete."""
        for i, path in enumerate(self.paths):
            if not path.exists():
                continue
            with path.open("rb") as handle:
                handle.seek(self._offsets[i])
                chunk = handle.read()
            self._offsets[i] += len(chunk)
            data = self._partial[i] + chunk
            lines = data.split(b"\n")
            self._partial[i] = lines.pop()
            seen = self.seen[i]
            for line in lines:
                key, _, instant = line.decode().partition(" ")
                if key in seen:
                    continue  # a redelivery (at-least-once) keeps the first completion
                seen[key] = float(instant)
                if all(key in other for other in self.seen):
                    self.complete += 1
        return self.complete

    def done_at(self, keys: Iterator[str] | Sequence[str]) -> dict[str, float]:
        """Keys handled by every consumer, with the instant the last one finished."""
        out = {}
        for key in keys:
            instants = [seen.get(key) for seen in self.seen]
            if all(t is not None for t in instants):
                out[key] = max(t for t in instants if t is not None)
        return out


@attrs.define
class Consumers:
    """Consumer subprocesses (``python -m bench.workers ...``), each with its handled-log."""

    workdir: Path
    processes: list[subprocess.Popen[bytes]] = attrs.field(factory=list)
    outs: list[Path] = attrs.field(factory=list)
    logs: list[Path] = attrs.field(factory=list)

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str | None] | None = None) -> None:
        """Start ``python -m bench.workers *argv``; ``env``: variables to set (None: to unset)."""
        out = self.workdir / f"{name}.handled"
        ready = self.workdir / f"{name}.ready"
        log = self.workdir / f"{name}.log"
        env = worker_env(env)
        command = [sys.executable, "-m", "bench.workers", *argv, "--out", str(out), "--ready", str(ready)]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append(process)
        self.outs.append(out)
        self.logs.append(log)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for process, out in zip(self.processes, self.outs, strict=True):
            ready = out.with_suffix(".ready")
            while not ready.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    log = out.with_suffix(".log")
                    raise RuntimeError(
                        f"consumer {out.stem} did not start; its log:\n{log.read_text()[-3000:]}"
                    )
                time.sleep(0.1)
        time.sleep(0.5)  # a worker is ready a moment before its consumers are registered

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def handled(self) -> Handled:
        return Handled(list(self.outs))

    def cpu_seconds(self) -> float | None:
        """CPU seconds the consumers and their pool processes have used (Linux; else None)."""
        return tree_cpu_seconds(self.pids)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def worker_env(changes: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment for a ``bench.workers`` subprocess, with ``changes`` (a None
    value unsets the variable)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    for key, value in (changes or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def tree_cpu_seconds(roots: Sequence[int]) -> float | None:
    """User + system CPU seconds of ``roots`` and every live descendant, from /proc (None off
    Linux). Prefork pool children live as long as their worker, so their counters keep adding up.
    """
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])  # after "pid (comm)": state ppid ... utime(12) stime(13)
        ticks[pid] = int(fields[11]) + int(fields[12])
    wanted = set(roots)
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in wanted} - wanted
        grew = bool(more)
        wanted |= more
    return sum(ticks.get(pid, 0) for pid in wanted) / os.sysconf("SC_CLK_TCK")


@contextmanager
def consumers() -> Iterator[Consumers]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        group = Consumers(Path(tmp))
        try:
            yield group
        finally:
            group.stop()


@attrs.define
class Load:
    """What a load generator did: publish start instants by key, the publishing window, errors."""

    started: dict[str, float] = attrs.field(factory=dict)
    """Where each message's latency counts from: the publish call's start (max load), the
    instant it was scheduled (paced load)."""
    called: dict[str, float] = attrs.field(factory=dict)
    """When each publish call started."""
    returned: dict[str, float] = attrs.field(factory=dict)
    """When each publish call returned (a confirmed publish: once the broker confirmed it)."""
    first: float = 0.0
    last: float = 0.0
    errors: int = 0
    behind: float = 0.0
    """Paced load: the furthest a publish started after its scheduled instant (s)."""

    @property
    def count(self) -> int:
        return len(self.started)

    @property
    def publish_rate(self) -> float:
        return self.count / (self.last - self.first) if self.last > self.first else 0.0


def _run_threads(target: Callable[[int], None], threads: int) -> list[threading.Thread]:
    workers = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    return workers


def max_load(publish: Publish, *, seconds: float, threads: int, into: Load | None = None) -> Load:
    """Publish as fast as ``threads`` publishers can for ``seconds``."""
    load = into or Load()
    lock = threading.Lock()
    load.first = time.monotonic()
    deadline = load.first + seconds

    def loop(_: int) -> None:
        while True:
            start = time.monotonic()
            if start >= deadline:
                return
            try:
                key = publish()
            except Exception as exc:  # counted and shown, never hidden
                with lock:
                    load.errors += 1
                if load.errors <= 3:
                    print(f"publish failed: {exc!r}", file=sys.stderr)
                continue
            end = time.monotonic()
            with lock:
                load.started[key] = load.called[key] = start
                load.returned[key] = end

    for worker in _run_threads(loop, threads):
        worker.join()
    load.last = time.monotonic()
    return load


def paced_load(
    publish: Publish, *, rate: float, seconds: float, threads: int, into: Load | None = None
) -> Load:
    """An open-loop offered load of ``rate`` messages/s for ``seconds``, spread over threads.

    Message ``n`` is due at ``t0 + n / rate``; its latency counts from that instant.
    """
    load = into or Load()
    lock = threading.Lock()
    total = int(rate * seconds)
    counter = iter(range(total))
    load.first = t0 = time.monotonic() + 0.05

    def loop(_: int) -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            due = t0 + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the offered load, not synchronisation
            else:
                with lock:
                    load.behind = max(load.behind, -delay)
            start = time.monotonic()
            try:
                key = publish()
            except Exception as exc:
                with lock:
                    load.errors += 1
                if load.errors <= 3:
                    print(f"publish failed: {exc!r}", file=sys.stderr)
                continue
            end = time.monotonic()
            with lock:
                load.started[key] = due
                load.called[key] = start
                load.returned[key] = end

    for worker in _run_threads(loop, threads):
        worker.join()
    load.last = time.monotonic()
    return load


def measure(
    phase: str,
    load: Callable[[Load], Load],
    handled: Handled,
    *,
    drain_timeout: float,
) -> dict[str, Any]:
    """Run one load in a thread with a progress bar (delivered of published), then summarize.

    Waits until every published message was handled by every consumer, or ``drain_timeout``
    after the last publish (what is missing then counts as lost).
    """
    from tqdm import tqdm  # imported here: the summary arithmetic is tested without the bench's venv

    live = Load()
    result: list[Load] = []
    runner = threading.Thread(target=lambda: result.append(load(live)), daemon=True)
    baseline = handled.poll()
    with tqdm(desc=f"{phase:<28}", unit="ev", total=0, dynamic_ncols=True, leave=True) as bar:
        runner.start()
        deadline = None
        while True:
            done = handled.poll() - baseline
            published = result[0].count if result else None
            bar.total = max(bar.total or 0, live.count, done)
            bar.n = done
            bar.set_postfix_str(
                f"published {live.count}" + ("" if published is None else ", draining"), refresh=False
            )
            bar.refresh()
            if published is not None:
                deadline = deadline or time.monotonic() + drain_timeout
                if done >= published or time.monotonic() > deadline:
                    break
                time.sleep(0.2)  # polling the consumers' files while they drain, to the deadline
            else:
                runner.join(timeout=0.3)  # returns at once when the load ends
    finished = result[0]
    return summarize(finished, handled.done_at(list(finished.started)), handled.seen)


def _percentiles_ms(values: Sequence[float]) -> dict[str, float]:
    return {f"p{p}_ms": round(percentile(values, p) * 1000, 2) for p in (50, 95, 99)} | {
        "max_ms": round(max(values) * 1000, 2) if values else float("nan")
    }


def latency_split(
    load: Load, done: Mapping[str, float], seen: Sequence[Mapping[str, float]] = ()
) -> dict[str, Any]:
    """Where each delivered message's latency went, as percentiles (ms) of each part:

    * ``schedule_to_call``: from the instant it was due to the publish call's start (the
      publisher's own queueing: a paced publisher behind its schedule; 0 at max load);
    * ``publish_call``: the call itself (for a confirmed publish, until the broker confirmed);
    * ``call_to_handled``: from the call's start to the last consumer's handler finishing;
    * ``consumers``: the same for each consumer on its own.
    """
    keys = [k for k in load.started if k in done and k in load.called]
    called = load.called
    split: dict[str, Any] = {
        "schedule_to_call": _percentiles_ms([called[k] - load.started[k] for k in keys]),
        "publish_call": _percentiles_ms([load.returned[k] - called[k] for k in keys if k in load.returned]),
        "call_to_handled": _percentiles_ms([done[k] - called[k] for k in keys]),
    }
    if seen:
        split["consumers"] = [
            _percentiles_ms([instants[k] - called[k] for k in keys if k in instants]) for instants in seen
        ]
    return split


def summarize(load: Load, done: dict[str, float], seen: Sequence[Mapping[str, float]] = ()) -> dict[str, Any]:
    """Throughput (delivered per second, first publish → last handled), latency percentiles
    (from ``load.started``), and the latency's parts (:func:`latency_split`)."""
    latencies = [done[k] - t for k, t in load.started.items() if k in done]
    last = max(done.values()) if done else load.last
    span = last - load.first
    return {
        "published": load.count,
        "delivered": len(done),
        "lost": load.count - len(done),
        "publish_errors": load.errors,
        "publish_rate": round(load.publish_rate, 1),
        "throughput": round(len(done) / span, 1) if span > 0 else 0.0,
        "seconds": round(span, 2),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2) if latencies else float("nan"),
        "publisher_behind_ms": round(load.behind * 1000, 2),
        "latency_split": latency_split(load, done, seen),
    }


@contextmanager
def profiled(targets: dict[str, int], outdir: Path | None, *, rate: int = 250) -> Iterator[None]:
    """``py-spy record`` each process in ``targets`` (name → pid, with its children) meanwhile.

    Writes collapsed stacks (``--format raw``) to ``outdir/<name>.txt``; summarize them with
    ``python -m bench.profile_report``. No-op when ``outdir`` is None.
    """
    if outdir is None:
        yield
        return
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    outdir.mkdir(parents=True, exist_ok=True)
    spies = [
        subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--nonblocking",
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--output",
                str(outdir / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in targets.items()
    ]
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        for process in spies:
            process.send_signal(signal.SIGINT)
        for process in spies:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def measure_repeated(
    phase: str,
    load: Callable[[Load], Load],
    handled: Handled,
    *,
    drain_timeout: float,
    repeat: int = 1,
    rank: str = "throughput",
) -> dict[str, Any]:
    """``measure`` ``repeat`` times with the same consumers; the run of median ``rank``.

    The figures of every run stay in ``runs`` (throughput and p99 of each), so the spread
    between runs — on a shared 2-core host, often larger than the effect measured — is visible.
    """
    if repeat <= 1:
        return measure(phase, load, handled, drain_timeout=drain_timeout)
    results = [
        measure(f"{phase} {i + 1}/{repeat}", load, handled, drain_timeout=drain_timeout)
        for i in range(repeat)
    ]
    return median_run(results, rank)


def median_run(results: list[dict[str, Any]], rank: str = "throughput") -> dict[str, Any]:
    """The run of median ``rank``, with every run's throughput and p99 in ``runs``."""
    ranked = sorted(results, key=lambda r: r[rank])
    median = dict(ranked[len(ranked) // 2])
    median["runs"] = [{"throughput": r["throughput"], "p99_ms": r["p99_ms"]} for r in results]
    return median


def warm_up(
    name: str, publish: Publish, handled: Handled, *, seconds: float, publishers: int, drain: float
) -> None:
    """Unmeasured load first (connections, queue processes, caches warm); its figures are dropped."""
    if seconds:
        measure_max_load(
            f"{name} warm-up", publish, handled, seconds=seconds, publishers=publishers, drain=drain
        )


def measure_max_load(
    name: str,
    publish: Publish,
    handled: Handled,
    *,
    seconds: float,
    publishers: int,
    drain: float,
    repeat: int = 1,
) -> dict[str, Any]:
    """``publishers`` threads publishing as fast as they can for ``seconds``, ``repeat`` times."""
    return measure_repeated(
        name,
        lambda into: max_load(publish, seconds=seconds, threads=publishers, into=into),
        handled,
        drain_timeout=drain,
        repeat=repeat,
    )


def max_then_paced(
    name: str,
    publish: Publish,
    handled: Handled,
    *,
    seconds: float,
    paced_seconds: float,
    publishers: int,
    drain: float,
    repeat: int,
    offered: Callable[[dict[str, Any] | None], float],
    max_label: str = "",
    around_max: AbstractContextManager[Any] | None = None,
    paced_publishers: int | None = None,
) -> dict[str, Any]:
    """A phase's two loads on the same consumers: as fast as ``publishers`` threads go for
    ``seconds`` (``max``; inside ``around_max``, e.g. a profiler), then open loop at
    ``offered(max)`` events/s for ``paced_seconds`` from ``paced_publishers`` threads (default
    ``publishers``; ``paced``, its run of median p99). Either is skipped at 0."""
    result: dict[str, Any] = {}
    if seconds:
        with around_max or nullcontext():
            result["max"] = measure_max_load(
                max_label or f"{name} (max load)",
                publish,
                handled,
                seconds=seconds,
                publishers=publishers,
                drain=drain,
                repeat=repeat,
            )
    rate = offered(result.get("max"))
    if paced_seconds and rate:
        threads = paced_publishers or publishers
        paced = measure_repeated(
            f"{name} ({rate:.0f}/s offered)",
            lambda into: paced_load(publish, rate=rate, seconds=paced_seconds, threads=threads, into=into),
            handled,
            drain_timeout=drain,
            repeat=repeat,
            rank="p99_ms",
        )
        result["paced"] = {"offered_rate": round(rate, 1), "publishers": threads, **paced}
    return result


def warm_then_measure(
    name: str,
    group: Consumers,
    publish: Publish,
    *,
    seconds: float,
    publishers: int,
    warmup: float,
    drain: float,
    repeat: int,
) -> dict[str, Any]:
    """Once ``group`` consumes: a warm-up, then the max-load measurement."""
    group.wait_ready()
    handled = group.handled()
    warm_up(name, publish, handled, seconds=warmup, publishers=publishers, drain=drain)
    return measure_max_load(
        name, publish, handled, seconds=seconds, publishers=publishers, drain=drain, repeat=repeat
    )


def close_app(app: Any) -> None:
    """Close a phase's Celery app and forget kombu's process-wide producer pools.

    kombu keys its producer pools by connection parameters, process-wide: a later app with
    the same URL would otherwise get this app's closed pool ("Acquire on closed pool").
    """
    import kombu.pools

    app.pool.force_close_all()
    kombu.pools.reset()
