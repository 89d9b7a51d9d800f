"""A minimal OTLP/HTTP trace receiver: the benchmark's "telemetry on" sends its spans here.

``python -m bench.otlp_sink --port P --bind 127.0.0.1 --bind 172.18.0.1`` accepts
``POST /v1/traces`` (``application/x-protobuf``, gzip or not), decodes each
``ExportTraceServiceRequest`` and counts its spans and bytes, answers ``200`` with an empty
``ExportTraceServiceResponse`` (the exporter's success), and reports what it received on
``GET /stats`` (JSON: requests, spans, bytes, rejected). It stores nothing.

It runs as a process of its own, so its CPU is never counted as the platform's: the figures
compare what the *senders* spend with telemetry on and off. Beside the loopback address it
binds the gateway of the stack's network, so that an edge container can reach it too.
"""

from __future__ import annotations

import argparse
import gzip
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TRACES_PATH = "/v1/traces"


class Counts:
    """What the receiver accepted, shared by the listeners of every bound address."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = self.spans = self.bytes = self.rejected = 0

    def add(self, spans: int, size: int) -> None:
        with self.lock:
            self.requests += 1
            self.spans += spans
            self.bytes += size

    def reject(self) -> None:
        with self.lock:
            self.rejected += 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {
                "requests": self.requests,
                "spans": self.spans,
                "bytes": self.bytes,
                "rejected": self.rejected,
            }


def count_spans(body: bytes) -> int:
    """Spans in one serialized ``ExportTraceServiceRequest`` (raises on a malformed body)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def handler_for(counts: Counts) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != TRACES_PATH:
                counts.reject()
                self._answer(404, b"")
                return
            try:
                raw = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
                spans = count_spans(raw)
            except Exception:  # a malformed export: the sender's problem, counted and refused
                counts.reject()
                self._answer(400, b"")
                return
            counts.add(spans, len(body))
            self._answer(200, b"", "application/x-protobuf")  # an empty ExportTraceServiceResponse

        def do_GET(self) -> None:
            if self.path != "/stats":
                self._answer(404, b"")
                return
            self._answer(200, json.dumps(counts.snapshot()).encode(), "application/json")

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def serve(addresses: Sequence[str], port: int) -> list[ThreadingHTTPServer]:
    """One listener per address, all counting into one :class:`Counts`, each in a thread."""
    counts = Counts()
    servers = []
    for address in addresses:
        server = ThreadingHTTPServer((address, port), handler_for(counts))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sink:
    """The receiver, run as a subprocess (:func:`running`); ``stats()`` reads its counts."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, addresses: Sequence[str]) -> None:
        self.process, self.port, self.addresses = process, port, list(addresses)

    def endpoint(self, address: str = "127.0.0.1") -> str:
        """``OTEL_EXPORTER_OTLP_ENDPOINT`` for a sender that reaches the sink at ``address``."""
        return f"http://{address}:{self.port}"

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.endpoint()}/stats", timeout=5) as response:
            counts: dict[str, int] = json.load(response)
        return counts

    def spans(self) -> int:
        return self.stats()["spans"]

    def settle(self, quiet: float, timeout: float = 60.0) -> int:
        """Until no span arrived for ``quiet`` s (the senders' batch processors flushed what
        they held: every ``OTEL_BSP_SCHEDULE_DELAY``, 5 s by default); the span count then."""
        deadline = time.monotonic() + timeout
        last, since = self.spans(), time.monotonic()
        while time.monotonic() - since < quiet and time.monotonic() < deadline:
            time.sleep(0.5)  # polling the count, with a deadline
            now = self.spans()
            if now != last:
                last, since = now, time.monotonic()
        return last


@contextmanager
def running(addresses: Sequence[str] = ("127.0.0.1",), timeout: float = 20.0) -> Iterator[Sink]:
    """Start the sink on ``addresses`` (one free port for all) and stop it after."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.otlp_sink", "--port", str(port)]
    for address in addresses:
        argv += ["--bind", address]
    from bench.harness import REPO

    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sink = Sink(process, port, addresses)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                sink.stats()
                break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = (
                        process.stderr.read().decode()
                        if process.stderr and process.poll() is not None
                        else ""
                    )
                    raise RuntimeError(f"the OTLP sink did not start ({exc}): {error[-2000:]}") from exc
                time.sleep(0.2)  # polling its start-up, with a deadline
        yield sink
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.otlp_sink", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", action="append", default=[], help="address to listen on (repeatable)")
    args = parser.parse_args(argv)
    serve(args.bind or ["127.0.0.1"], args.port)
    threading.Event().wait()


if __name__ == "__main__":
    main()
