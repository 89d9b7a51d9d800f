"""``POST /orders`` through gunicorn on this host, no stack needed (prints; asserts nothing).

    .venv-test/bin/python -m bench.edge_gunicorn [--requests 4000] [--concurrency 16]
        [--workers 2] [--threads 8] [--database-url URL]
    .venv-test/bin/python -m bench.edge_gunicorn --port 8000 --token "$(make token)"   # compose's edge

Runs from the repository root with the test venv (``make venv``: it has order-service). Starts
the edge (gunicorn, gthread, the service's gunicorn.conf.py, its Flask app and handlers) on a
free loopback port against a fresh SQLite file (or ``--database-url``), sends a bounded number
of requests from client threads over keep-alive connections, prints throughput and latency
percentiles, and stops gunicorn. The clients share the host's CPU with the server.

The local edge is :mod:`bench.edge_unverified`'s (no issuer here: any bearer token is its
benchmark customer), so this measures the HTTP layer, validation and the database writes
without token verification; ``python -m bench`` measures the deployed edge, verification
included.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from order_service.adapters.database import create_engine, migrate
from order_service.entrypoints.api import GUNICORN_CONF

APP = "bench.edge_unverified:create_wsgi_app()"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"gunicorn did not answer /healthz on port {port} within {timeout:g} s")


def _body() -> bytes:
    """An order for the token's subject (``customer_id`` left out)."""
    return json.dumps(
        {
            "currency": "EUR",
            "lines": [
                {"id": 1, "quantity": 2, "unit_price": "4.50"},
                {"id": 2, "quantity": 1, "unit_price": "12.99"},
            ],
        }
    ).encode()


class _Results:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.lock = threading.Lock()

    def add(self, latencies: list[float], statuses: Counter[int]) -> None:
        with self.lock:
            self.latencies.extend(latencies)
            self.statuses.update(statuses)


def _client(port: int, count: int, idempotent: bool, token: str, results: _Results) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    body = _body()
    for _ in range(count):
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        if idempotent:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        started = time.perf_counter()
        try:
            connection.request("POST", "/orders", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            statuses[response.status] += 1
        except OSError:
            statuses[0] += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies.append(time.perf_counter() - started)
    connection.close()
    results.add(latencies, statuses)


def run(requests: int, concurrency: int, idempotent: bool, port: int, token: str) -> dict[str, float]:
    results = _Results()
    per_client = max(1, requests // concurrency)
    threads = [
        threading.Thread(target=_client, args=(port, per_client, idempotent, token, results))
        for _ in range(concurrency)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies, statuses = results.latencies, results.statuses
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p95_ms": quantiles[94] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "created": statuses[201],
        "errors": sum(n for code, n in statuses.items() if code != 201),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--idempotency-keys",
        action="store_true",
        help="send a fresh Idempotency-Key with every request",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="measure the edge already listening on 127.0.0.1:PORT instead",
    )
    parser.add_argument(
        "--token",
        default="bench",
        help="the bearer token (with --port: a real one, e.g. `make token`; the local edge takes any)",
    )
    args = parser.parse_args(argv)
    if args.port:
        _wait_up(args.port)
        run(min(200, args.requests), min(4, args.concurrency), args.idempotency_keys, args.port, args.token)
        result = run(args.requests, args.concurrency, args.idempotency_keys, args.port, args.token)
        _report(result, f"the edge on port {args.port}", args)
        return

    with tempfile.TemporaryDirectory(prefix="order-bench-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        engine = create_engine(url)
        migrate(engine)
        engine.dispose()
        port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "GUNICORN_WORKERS": str(args.workers),
            "GUNICORN_THREADS": str(args.threads),
            "ACCESS_LOG": "0",
            "LOG_LEVEL": "WARNING",
            "BROKER_URLS": os.environ.get("BROKER_URLS", "amqp://bench:bench@127.0.0.1:1/shop"),
        }
        gunicorn = Path(sys.executable).with_name("gunicorn")
        root = str(Path(__file__).resolve().parent.parent)  # `bench` importable by the workers
        command = [str(gunicorn), "--config", str(GUNICORN_CONF), "--pythonpath", root]
        server = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{port}", APP], env=env, start_new_session=True
        )
        try:
            _wait_up(port)
            run(min(200, args.requests), min(4, args.concurrency), args.idempotency_keys, port, args.token)
            result = run(args.requests, args.concurrency, args.idempotency_keys, port, args.token)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
    _report(
        result,
        f"gunicorn, {args.workers} workers x {args.threads} threads, {url.split(':', 1)[0]}",
        args,
    )


def _report(result: dict[str, float], server: str, args: argparse.Namespace) -> None:
    print(
        f"POST /orders ({server}; {args.concurrency} client threads"
        f"{', Idempotency-Key' if args.idempotency_keys else ''}): "
        f"{result['rps']:.0f} req/s; {result['requests']:.0f} requests in "
        f"{result['seconds']:.1f} s; latency p50 {result['p50_ms']:.1f} ms, "
        f"p95 {result['p95_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms; "
        f"201: {result['created']:.0f}, other: {result['errors']:.0f}"
    )


if __name__ == "__main__":
    main()
