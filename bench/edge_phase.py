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
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from tqdm import tqdm

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
) -> dict[str, Any]:
    """With ``alone_seconds`` and ``relays``: first POST with the relay held (the edge alone,
    ``alone_rounds`` times: the host drifts), then release it and POST again at once, while the
    pipeline works off that backlog (the edge with everything else busy on the same cores); then
    follow every order to dispatched. With ``stack``: the CPU each container spent per request
    while the edge was alone, and per order from the relay's release until all were dispatched.
    """
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    result: dict[str, Any] = {}
    order_ids: list[int] = []
    if alone_seconds and relays:
        runs = []
        with relay_held(relays):
            before = stack.sample() if stack else {}
            for round_ in range(1, alone_rounds + 1):
                label = "edge POST, relay held" + (f" {round_}/{alone_rounds}" if alone_rounds > 1 else "")
                runs.append(
                    _post(label, host, port, seconds=alone_seconds, connections=connections, token=token)
                )
                order_ids += runs[-1].pop("order_ids")
            if stack:
                cost = per_unit(delta(before, stack.sample()), sum(r["requests"] for r in runs))
                result["cpu_alone"] = {**cost, "per": "request", "cores": stack.cores}
        result["post_alone"] = _rounds(runs)
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


def reachable(url: str, timeout: float = 3.0) -> str | None:
    """None when ``GET /healthz`` answers 200, else why not."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/healthz", timeout=timeout) as response:
            return None if response.status == 200 else f"/healthz answered {response.status}"
    except OSError as exc:
        return f"{url} is not reachable ({exc})"
