"""The edge: ``POST /orders`` through gunicorn (the live order-service), then the orders' fate.

A closed loop of ``--edge-connections`` keep-alive HTTP/1.1 connections posts orders, twice:
for ``--edge-alone-seconds`` with the outbox relay held (``docker pause``: the edge and
PostgreSQL alone on the cores, the events wait in the outbox), then, right after releasing it,
for ``--edge-seconds`` while the relay, billing, logistic, order-service's worker, Flower and
the broker work off that backlog on the same 2 cores. Requests/s and each request's latency
for both. Then every order created is followed until it is ``dispatched``: its event went out
through the relay, billing invoiced it, logistic picked, packed and dispatched it, and
order-service consumed both facts. ``updated_at - created_at`` of a dispatched order (both
written by order-service's clock) is how long that took.

The held-relay rounds alternate with an edge that verifies no token (a throwaway container of
the same image running :mod:`bench.edge_unverified`, see :func:`unverified_edge`): each side's
CPU per request, counted over its own rounds, says what token verification costs. With
``--edge-baseline-image`` they also alternate with an edge of another order-service image (say,
one built from an earlier commit by ``make bench-baseline-image REF=<commit>``): the edge's CPU
per request against that baseline's, side by side.

Every request carries a bearer token for the customer ``bench`` (from the dev issuer,
``--issuer-url``): the edge verifies it as it would any caller's.

The client is a minimal asyncio HTTP/1.1 client (one request in flight per connection, no
pipelining): ~50 µs of CPU per request, so on this 2-core host the load generator takes as
little as possible from gunicorn, PostgreSQL and the broker it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import otlp_sink
from bench.harness import percentile
from bench.stack_cpu import StackCpu, delta, per_unit

SUBJECT = "bench"
BODY = {
    "customer_id": SUBJECT,
    "currency": "EUR",
    "lines": [{"id": 1, "quantity": 2, "unit_price": "4.50"}],
}


class HttpError(Exception):
    pass


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host, self.port = host, port
        self.authorization = f"Authorization: Bearer {token}\r\n" if token else ""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.authorization}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        try:
            status_line = await self.reader.readline()
            if not status_line:
                raise HttpError("connection closed by the server")
            status = int(status_line.split(b" ", 2)[1])
            length, close = 0, False
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            payload = await self.reader.readexactly(length) if length else b""
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            await self.close()
            raise HttpError(repr(exc)) from exc
        if close:
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def mint_token(issuer_url: str, subject: str = SUBJECT, timeout: float = 5.0) -> str:
    """A ``customer`` token for ``subject`` from the dev issuer (``GET /token``), valid 1 day."""
    import urllib.request

    query = urllib.parse.urlencode({"sub": subject, "role": "customer", "expires_in": 86400})
    with urllib.request.urlopen(f"{issuer_url.rstrip('/')}/token?{query}", timeout=timeout) as response:
        token: str = json.load(response)["access_token"]
    return token


async def _post_orders(
    host: str, port: int, *, seconds: float, connections: int, bar: tqdm[Any], token: str | None
) -> dict[str, Any]:
    body = json.dumps(BODY).encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    orders: list[int] = []
    start = time.monotonic()
    deadline = start + seconds

    async def loop() -> None:
        client = Client(host, port, token)
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                status, payload = await client.request("POST", "/orders", body)
            except HttpError as exc:
                errors.append(str(exc))
                await asyncio.sleep(0.05)
                continue
            latencies.append(time.monotonic() - sent)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 201:
                orders.append(int(json.loads(payload)["id"]))
            bar.update(1)
        await client.close()

    await asyncio.gather(*(loop() for _ in range(connections)))
    elapsed = time.monotonic() - start
    ok = statuses.get(201, 0)
    return {
        "connections": connections,
        "requests": len(latencies),
        "created": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": round(elapsed, 2),
        "throughput": round(ok / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2) if latencies else float("nan"),
        "order_ids": orders,
    }


def _summary(
    order_ids: list[int],
    *,
    done: dict[int, tuple[datetime, datetime]],
    pending: int,
    statuses: dict[str, int],
    waited: float,
    source: str,
) -> dict[str, Any]:
    durations = [(updated - created).total_seconds() for created, updated in done.values()]
    first_created = min((c for c, _ in done.values()), default=None)
    last_updated = max((u for _, u in done.values()), default=None)
    span = (last_updated - first_created).total_seconds() if first_created and last_updated else 0.0
    return {
        "orders": len(order_ids),
        "dispatched": len(done),
        "not_dispatched": pending,
        "not_dispatched_statuses": dict(statuses),
        "read_back": source,
        "drain_seconds": round(waited, 2),
        "throughput": round(len(done) / span, 1) if span > 0 else 0.0,
        "p50_ms": round(percentile(durations, 50) * 1000, 1),
        "p95_ms": round(percentile(durations, 95) * 1000, 1),
        "p99_ms": round(percentile(durations, 99) * 1000, 1),
        "max_ms": round(max(durations) * 1000, 1) if durations else float("nan"),
    }


def _until_dispatched_db(
    database_url: str, order_ids: list[int], *, timeout: float, bar: tqdm[Any]
) -> dict[str, Any]:
    """Read order-service's ``orders`` table (read-only), one query a second."""
    import psycopg

    done: dict[int, tuple[datetime, datetime]] = {}
    statuses: dict[str, int] = {}
    wanted = set(order_ids)
    start = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            rows = conn.execute(
                "SELECT id, status, created_at, updated_at FROM orders WHERE id BETWEEN %s AND %s",
                (min(order_ids), max(order_ids)),
            ).fetchall()
            statuses = {}
            for order_id, status, created, updated in rows:
                if order_id not in wanted or order_id in done:
                    continue
                if status == "dispatched":
                    done[order_id] = (created, updated)
                    bar.update(1)
                else:
                    statuses[status] = statuses.get(status, 0) + 1
            if len(done) >= len(wanted) or time.monotonic() - start > timeout:
                break
            time.sleep(1.0)  # polling interval of the read-back, not synchronisation
    return _summary(
        order_ids,
        done=done,
        pending=len(wanted) - len(done),
        statuses=statuses,
        waited=time.monotonic() - start,
        source="database",
    )


async def _until_dispatched_http(
    host: str,
    port: int,
    order_ids: list[int],
    *,
    timeout: float,
    bar: tqdm[Any],
    token: str | None,
    window: int = 64,
) -> dict[str, Any]:
    """``GET /orders/{id}`` for the oldest ``window`` pending orders at a time (they finish
    roughly in order), so the read-back does not load the edge it measures."""
    pending = sorted(order_ids)
    done: dict[int, tuple[datetime, datetime]] = {}
    statuses: dict[str, int] = {}
    start = time.monotonic()
    clients = [Client(host, port, token) for _ in range(4)]

    async def check(client: Client, chunk: list[int]) -> None:
        for order_id in chunk:
            try:
                status, payload = await client.request("GET", f"/orders/{order_id}")
            except HttpError:
                continue
            order = json.loads(payload) if status == 200 else {}
            if order.get("status") == "dispatched":
                done[order_id] = (
                    datetime.fromisoformat(order["created_at"]),
                    datetime.fromisoformat(order["updated_at"]),
                )
                bar.update(1)
            else:
                statuses[str(order.get("status"))] = statuses.get(str(order.get("status")), 0) + 1

    while pending and time.monotonic() - start < timeout:
        statuses.clear()
        head = pending[:window]
        await asyncio.gather(*(check(c, head[i :: len(clients)]) for i, c in enumerate(clients)))
        pending = [i for i in pending if i not in done]
        if pending and pending[0] in head:
            await asyncio.sleep(1.0)  # polling interval of the read-back, not synchronisation
    for client in clients:
        await client.close()
    return _summary(
        order_ids,
        done=done,
        pending=len(pending),
        statuses=statuses,
        waited=time.monotonic() - start,
        source="http",
    )


def wait_until_idle(management: Any, vhost: str, timeout: float) -> int:
    """Until the shop's queues are empty (a previous run's backlog would count against this one).

    Returns the messages still queued when it gave up (0: idle).
    """
    deadline = time.monotonic() + timeout
    while True:
        queued = sum(
            int(q.get("messages") or 0)
            for q in management.get(f"queues/{vhost}?columns=name,messages")
            if not q["name"].endswith((".dlq", ".pidbox")) and not q["name"].startswith("celeryev")
        )
        if not queued or time.monotonic() > deadline:
            return queued
        time.sleep(1.0)


def relay_containers(project: str) -> list[str]:
    """The running ``order-service-relay`` containers of compose project ``project``."""
    if not shutil.which("docker"):
        return []
    result = subprocess.run(
        [
            "docker",
            "ps",
            "--quiet",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            "label=com.docker.compose.service=order-service-relay",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.split()


@contextlib.contextmanager
def relay_held(containers: list[str]) -> Iterator[None]:
    """``docker pause`` the outbox relay meanwhile (always unpaused after).

    Orders keep being accepted and their events wait in the outbox, as during a broker
    outage; nothing downstream runs, so the edge and PostgreSQL have the cores to themselves.
    """
    subprocess.run(["docker", "pause", *containers], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["docker", "unpause", *containers], check=False, capture_output=True)


def _post(
    label: str, host: str, port: int, *, seconds: float, connections: int, token: str | None
) -> dict[str, Any]:
    with tqdm(desc=f"{label:<28}", unit="req", dynamic_ncols=True) as bar:
        return asyncio.run(
            _post_orders(host, port, seconds=seconds, connections=connections, bar=bar, token=token)
        )


def _rounds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several held-relay rounds as one row: the median round's rate and latencies, every
    round's requests, answers and errors counted, each round's rate kept (``runs``)."""
    median = sorted(runs, key=lambda r: r["throughput"])[(len(runs) - 1) // 2]  # lower median
    statuses: dict[str, int] = {}
    for run_ in runs:
        for code, n in run_["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    return {
        **median,
        "rounds": len(runs),
        "requests": sum(r["requests"] for r in runs),
        "created": sum(r["created"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "first_errors": [e for r in runs for e in r["first_errors"]][:3],
        "statuses": statuses,
        "runs": [{"throughput": r["throughput"], "p99_ms": r["p99_ms"]} for r in runs],
    }


def run(
    url: str,
    *,
    seconds: float,
    connections: int,
    dispatch_timeout: float,
    database_url: str | None = None,
    alone_seconds: float = 0.0,
    alone_rounds: int = 1,
    relays: list[str] | None = None,
    stack: StackCpu | None = None,
    token: str | None = None,
    unverified: str = "",
    telemetry: str = "",
    baseline: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """With ``alone_seconds`` and ``relays``: first POST with the relay held (the edge alone,
    ``alone_rounds`` times: the host drifts), then release it and POST again at once, while the
    pipeline works off that backlog (the edge with everything else busy on the same cores); then
    follow every order to dispatched. With ``stack``: the CPU each container spent per request
    while the edge was alone, and per order from the relay's release until all were dispatched.
    With ``unverified`` (the compose project): the held-relay rounds alternate between the
    stack's edge and an edge without token verification (:func:`unverified_edge`), each
    side's CPU counted over its own rounds. With ``telemetry`` (the compose project): also two
    throwaway edges of the stack's image, tracing and metrics off and on (spans exported to
    the bench's OTLP sink), in the same rounds (:func:`telemetry_environments`). With
    ``baseline`` (the compose project, another order-service image): a throwaway edge of that
    image beside the stack's in the same rounds, for the edge's CPU per request against it.
    """
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    result: dict[str, Any] = {}
    order_ids: list[int] = []
    if alone_seconds and relays:
        result.update(
            _alone(
                (host, port),
                relays,
                seconds=alone_seconds,
                rounds=alone_rounds,
                connections=connections,
                stack=stack,
                token=token,
                unverified=unverified,
                telemetry=telemetry,
                baseline=baseline,
                order_ids=order_ids,
            )
        )
    released = stack.sample() if stack else {}
    posted = _post("edge POST /orders", host, port, seconds=seconds, connections=connections, token=token)
    order_ids += posted.pop("order_ids")
    result["post"] = posted
    if stack:
        # The edge's own container only: everything else is mostly the pipeline's (below).
        busy = per_unit(delta(released, stack.sample()), posted["requests"], only=("order-service",))
        result["cpu_busy"] = {**busy, "per": "request", "cores": stack.cores}
    if not order_ids:
        return result
    with tqdm(
        desc=f"{'edge orders → dispatched':<28}", unit="ord", total=len(order_ids), dynamic_ncols=True
    ) as bar:
        dispatched = None
        if database_url:
            try:
                dispatched = _until_dispatched_db(database_url, order_ids, timeout=dispatch_timeout, bar=bar)
            except Exception as exc:  # no driver, no route to the database: read back over HTTP
                print(f"edge: reading orders over HTTP ({exc!r})")
        if dispatched is None:
            dispatched = asyncio.run(
                _until_dispatched_http(host, port, order_ids, timeout=dispatch_timeout, bar=bar, token=token)
            )
    result["dispatched"] = dispatched
    if stack and dispatched["dispatched"] and not dispatched["not_dispatched"]:  # else: partial work
        # From the release on: the relay, the consumers, Flower, the broker and PostgreSQL (which
        # also took the busy round's INSERTs, ~0.4 ms each); the edge's own container is left out.
        spent = delta(released, stack.sample())
        pipeline = per_unit(spent, dispatched["dispatched"], exclude=("order-service",))
        result["cpu_pipeline"] = {
            **pipeline,
            "per": "order dispatched",
            "cores": stack.cores,
            "ceiling_per_s": round(stack.cores * 1000 / pipeline["total_ms"], 1),
        }
    return result


def _alone(
    edge: tuple[str, int],
    relays: list[str],
    *,
    seconds: float,
    rounds: int,
    connections: int,
    stack: StackCpu | None,
    token: str | None,
    unverified: str,
    order_ids: list[int],
    telemetry: str = "",
    baseline: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The held-relay rounds of the stack's edge, and of the unverified edge and the telemetry
    off/on edges beside it when ``unverified`` / ``telemetry`` name the project, and of an edge
    of another image when ``baseline`` is (project, image); the orders created are appended to
    ``order_ids``."""
    result: dict[str, Any] = {}
    sides = {"verified": edge}
    with contextlib.ExitStack() as cleanup:
        if baseline:
            project, image = baseline
            try:
                sides[BASELINE] = cleanup.enter_context(one_off_edge(project, BASELINE_SERVICE, image=image))
                result["baseline_image"] = image
            except Exception as exc:  # shown, and --check fails on it
                print(f"edge: no baseline edge of {image} ({exc!r}); the edge-alone target has no baseline")
                result["baseline_skipped"] = f"{image}: {exc!r}"
        if unverified:
            try:
                sides["unverified"] = cleanup.enter_context(unverified_edge(unverified))
            except Exception as exc:  # no Docker API, no image: the comparison is left out
                print(f"edge: no edge without token verification ({exc!r}); verification's cost left out")
        sink = None
        if telemetry:
            try:
                sink = cleanup.enter_context(otlp_sink.running(["127.0.0.1", network_gateway(telemetry)]))
                for name, env in telemetry_environments(sink.endpoint(sink.addresses[1])).items():
                    sides[name] = cleanup.enter_context(one_off_edge(telemetry, name, environment=env))
            except Exception as exc:  # shown, and --check fails on it
                print(f"edge: no telemetry off/on edges ({exc!r}); telemetry's cost left out")
                result["telemetry"] = {"skipped": repr(exc)}
                sink = None
                sides = {k: v for k, v in sides.items() if k not in TELEMETRY_SIDES}
        settles = {name: sink.settle for name in TELEMETRY_SIDES} if sink is not None else {}
        held = _held_rounds(
            sides,
            relays,
            seconds=seconds,
            rounds=rounds,
            connections=connections,
            stack=stack,
            token=token,
            settles=settles,
        )
        if sink is not None:
            result["telemetry"] = telemetry_cost(
                held[TELEMETRY_OFF][0], held[TELEMETRY_ON][0], spans=sink.spans(), received=sink.stats()
            )
    for side, (runs, spent) in held.items():
        for run_ in runs:
            order_ids += run_.pop("order_ids")
        suffix = "" if side == "verified" else f"_{SIDE_KEYS[side]}"
        result[f"post_alone{suffix}"] = _rounds(runs)
        if stack and side in ("verified", "unverified", BASELINE):  # all containers but the other edges
            others = tuple(SIDE_SERVICES[other] for other in sides if other != side)
            cost = per_unit(spent, sum(r["requests"] for r in runs), exclude=others)
            result[f"cpu_alone{suffix}"] = {**cost, "per": "request", "cores": stack.cores}
    if "cpu_alone_unverified" in result:
        result["verification"] = verification_cost(result["cpu_alone"], result["cpu_alone_unverified"])
    return result


def _held_rounds(
    sides: dict[str, tuple[str, int]],
    relays: list[str],
    *,
    seconds: float,
    rounds: int,
    connections: int,
    stack: StackCpu | None,
    token: str | None,
    settles: Mapping[str, Callable[[float], int]] | None = None,
) -> dict[str, tuple[list[dict[str, Any]], dict[str, float]]]:
    """The held-relay rounds, ``rounds`` per side, the sides alternating (ABBA: drift falls on
    both alike); each side's rounds and the CPU every container spent during them. A side in
    ``settles`` ends each round when its call returns (the telemetry edges: until the sink got
    no span for :data:`SETTLE_SECONDS`), so the spans a round made are exported, and counted,
    within it."""
    out: dict[str, tuple[list[dict[str, Any]], dict[str, float]]] = {side: ([], {}) for side in sides}
    names = list(sides)
    with relay_held(relays):
        for round_ in range(rounds):
            for side in names if round_ % 2 == 0 else names[::-1]:
                runs, spent = out[side]
                label = "edge POST, relay held" + SIDE_LABELS[side]
                label += f" {round_ + 1}/{rounds}" if rounds > 1 else ""
                before = stack.sample() if stack else {}
                side_host, side_port = sides[side]
                runs.append(
                    _post(label, side_host, side_port, seconds=seconds, connections=connections, token=token)
                )
                if side in (settles or {}):
                    (settles or {})[side](SETTLE_SECONDS)
                this_round = delta(before, stack.sample() if stack else {})
                runs[-1]["cpu_seconds"] = this_round.get(SIDE_SERVICES[side])  # the side's own container
                for service, seconds_ in this_round.items():
                    spent[service] = spent.get(service, 0.0) + seconds_
    return out


TELEMETRY_OFF = "order-service-telemetry-off"
TELEMETRY_ON = "order-service-telemetry-on"
"""The service labels (and side names) of the edges with tracing and metrics off and on."""
TELEMETRY_SIDES = (TELEMETRY_OFF, TELEMETRY_ON)
SETTLE_SECONDS = 6.0
"""A telemetry edge's round ends once the sink got no span for this long: the "on" edge's batch
span processor (every 5 s) is empty. Both telemetry edges wait alike, so each one's idle CPU over
the wait counts on both sides."""


def telemetry_environments(endpoint: str) -> dict[str, dict[str, str | None]]:
    """The edge's environment changes for telemetry off and on (None unsets a variable).

    off: ``OTEL_SDK_DISABLED`` (no spans, no ``traceresponse``, no instrumentation), no
    ``METRICS_PORT`` or ``PROMETHEUS_MULTIPROC_DIR`` (no listener, no value files). on: every
    request's spans (Flask, SQLAlchemy) recorded and exported over OTLP/HTTP to ``endpoint``,
    metrics in multiprocess mode with the listener, as the image runs them."""
    return {
        TELEMETRY_OFF: {
            "OTEL_SDK_DISABLED": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": None,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": None,
            "METRICS_PORT": None,
            "PROMETHEUS_MULTIPROC_DIR": None,
        },
        TELEMETRY_ON: {
            "OTEL_SDK_DISABLED": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": None,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_SAMPLER": None,
            "METRICS_PORT": "9100",
            "PROMETHEUS_MULTIPROC_DIR": "/tmp/prometheus-multiproc",
        },
    }


def telemetry_cost(
    off: list[dict[str, Any]], on: list[dict[str, Any]], *, spans: int, received: dict[str, int]
) -> dict[str, Any]:
    """The telemetry edges' own container CPU per request, round by round (each round until its
    spans were exported): the rounds paired in order (``rounds``: each pair's on / off ratio),
    and the growth as the median ratio (one round moves with the host; the median holds)."""

    def ms(rounds: list[dict[str, Any]]) -> float | None:
        cpu, requests = sum(r.get("cpu_seconds") or 0.0 for r in rounds), sum(r["requests"] for r in rounds)
        return round(cpu * 1000 / requests, 3) if cpu and requests else None

    pairs = []
    for off_round, on_round in zip(off, on, strict=True):
        off_ms, on_ms = ms([off_round]), ms([on_round])
        ratio = round(on_ms / off_ms, 3) if on_ms and off_ms else None
        pairs.append({"off_ms": off_ms, "on_ms": on_ms, "cpu_ratio": ratio})
    known = [p["cpu_ratio"] for p in pairs if p["cpu_ratio"] is not None]
    return {
        "edge_ms_off": ms(off),
        "edge_ms_on": ms(on),
        "rounds": pairs,
        "growth": round(statistics.median(known) - 1, 3) if known else None,
        "requests_off": sum(r["requests"] for r in off),
        "requests_on": sum(r["requests"] for r in on),
        "spans_exported": spans,
        "sink": received,
    }


def verification_cost(on: dict[str, Any], off: dict[str, Any]) -> dict[str, Any]:
    """The edge container's CPU per request verifying tokens (the stack's edge) and not
    (:func:`unverified_edge`), the growth, and the whole host's per request for both."""
    on_ms = on["ms_per_unit"].get("order-service")
    off_ms = off["ms_per_unit"].get(UNVERIFIED_SERVICE)
    return {
        "edge_ms_verified": on_ms,
        "edge_ms_unverified": off_ms,
        "growth": round(on_ms / off_ms - 1, 3) if on_ms and off_ms else None,
        "host_ms_verified": on.get("host_ms"),
        "host_ms_unverified": off.get("host_ms"),
    }


UNVERIFIED_SERVICE = "order-service-unverified"
"""The service label of the edge without token verification (its CPU, apart from the stack's)."""
UNVERIFIED_MODULE = Path(__file__).with_name("edge_unverified.py")
BASELINE = "baseline"
BASELINE_SERVICE = "order-service-baseline"
"""The side and service label of the edge of another order-service image (``--edge-baseline-image``)."""
SIDE_SERVICES = {
    "verified": "order-service",
    "unverified": UNVERIFIED_SERVICE,
    BASELINE: BASELINE_SERVICE,
    TELEMETRY_OFF: TELEMETRY_OFF,
    TELEMETRY_ON: TELEMETRY_ON,
}
"""Each held-relay side's container, by its compose service label."""
SIDE_KEYS = {
    "unverified": "unverified",
    BASELINE: "baseline",
    TELEMETRY_OFF: "telemetry_off",
    TELEMETRY_ON: "telemetry_on",
}
"""The suffix of each side's figures in the results (``post_alone_<key>``)."""
SIDE_LABELS = {
    "verified": "",
    "unverified": ", unverified",
    BASELINE: ", baseline image",
    TELEMETRY_OFF: ", telemetry off",
    TELEMETRY_ON: ", telemetry on",
}


@contextlib.contextmanager
def unverified_edge(project: str, timeout: float = 90.0) -> Iterator[tuple[str, int]]:
    """A throwaway container of the stack's own order-service image, its environment, network,
    CPU shares and memory limit, running :mod:`bench.edge_unverified` (the edge with a verifier
    that trusts any token) on a free loopback port; yields (host, port), removed after.

    Labelled as a one-off container of ``project`` under :data:`UNVERIFIED_SERVICE`, so the
    stack's CPU counters see it as a service of its own.
    """
    with one_off_edge(
        project,
        UNVERIFIED_SERVICE,
        command=["python", f"/tmp/bench-edge/{UNVERIFIED_MODULE.name}"],
        archive=_module_archive(),
        timeout=timeout,
    ) as address:
        yield address


def stack_edge(project: str) -> dict[str, Any]:
    """The Docker API's description of the stack's edge container (``docker inspect``)."""
    import docker

    client = docker.from_env(version="auto")
    edges = client.containers.list(
        filters={
            "label": [f"com.docker.compose.project={project}", "com.docker.compose.service=order-service"]
        }
    )
    if not edges:
        raise RuntimeError(f"no order-service container in compose project {project}")
    attrs: dict[str, Any] = edges[0].attrs
    return attrs


def network_gateway(project: str) -> str:
    """The gateway address of the stack edge's network: where a container reaches this host."""
    import docker

    edge = stack_edge(project)
    name = next(iter(edge["NetworkSettings"]["Networks"]))
    network = docker.from_env(version="auto").networks.get(name)
    for config in network.attrs.get("IPAM", {}).get("Config") or []:
        if config.get("Gateway"):
            return str(config["Gateway"])
    raise RuntimeError(f"network {name} names no gateway")


@contextlib.contextmanager
def one_off_edge(
    project: str,
    service: str,
    *,
    command: list[str] | None = None,
    archive: bytes | None = None,
    environment: dict[str, str | None] | None = None,
    image: str | None = None,
    timeout: float = 90.0,
) -> Iterator[tuple[str, int]]:
    """A throwaway container of the stack's own order-service image (or ``image``), with the stack edge's
    environment (changed by ``environment``: None unsets), command (or ``command``), network,
    CPU shares and memory limit, on a free loopback port; ``archive`` (a tar) unpacked into its
    ``/tmp`` first. Yields (host, port) once ``/healthz`` answers; removed after.

    Labelled as a one-off container of ``project`` under ``service``, so the stack's CPU
    counters see it as a service of its own.
    """
    import docker

    client = docker.from_env(version="auto")
    edge = stack_edge(project)
    env = dict(item.partition("=")[::2] for item in edge["Config"]["Env"])
    for key, value in (environment or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    container = client.containers.create(
        image or edge["Image"],
        command=command or edge["Config"]["Cmd"],
        entrypoint=None if command else edge["Config"].get("Entrypoint"),
        environment=[f"{k}={v}" for k, v in env.items()],
        name=f"{project}-bench-{service}",
        labels={
            "com.docker.compose.project": project,
            "com.docker.compose.service": service,
            "com.docker.compose.oneoff": "True",
        },
        network=next(iter(edge["NetworkSettings"]["Networks"])),
        ports={"8000/tcp": ("127.0.0.1", None)},
        cpu_shares=edge["HostConfig"].get("CpuShares") or None,
        mem_limit=edge["HostConfig"].get("Memory") or None,
    )
    try:
        if archive is not None:
            container.put_archive("/tmp", archive)
        container.start()
        container.reload()
        port = int(container.ports["8000/tcp"][0]["HostPort"])
        deadline = time.monotonic() + timeout
        while (why := reachable(f"http://127.0.0.1:{port}", timeout=1.0)) is not None:
            container.reload()
            if container.status != "running" or time.monotonic() > deadline:
                logs = container.logs(tail=20).decode(errors="replace")
                raise RuntimeError(f"the {service} edge did not answer /healthz ({why}); its log:\n{logs}")
            time.sleep(0.5)  # polling its start-up, with a deadline
        yield "127.0.0.1", port
    finally:
        container.remove(force=True)


def _module_archive() -> bytes:
    """A tar of ``bench-edge/edge_unverified.py``, readable by the image's unprivileged user."""
    import io
    import tarfile

    data = UNVERIFIED_MODULE.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo("bench-edge")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        module = tarfile.TarInfo(f"bench-edge/{UNVERIFIED_MODULE.name}")
        module.size, module.mode = len(data), 0o644
        tar.addfile(module, io.BytesIO(data))
    return buffer.getvalue()


def reachable(url: str, timeout: float = 3.0) -> str | None:
    """None when ``GET /healthz`` answers 200, else why not."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/healthz", timeout=timeout) as response:
            return None if response.status == 200 else f"/healthz answered {response.status}"
    except OSError as exc:
        return f"{url} is not reachable ({exc})"
