"""service_defaults.tracing: what each mode of the standard variables does (one process each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from event_contracts.dlq.model import DeadLetter
from event_contracts.service_defaults import tracing

pytestmark = pytest.mark.unit

PROBE = """
import json
from datetime import UTC, datetime
from opentelemetry import trace
from event_contracts.service_defaults import tracing
on = tracing.configure_tracing("probe", "test")
with trace.get_tracer("probe").start_as_current_span("request") as span:
    headers = dict(tracing.with_trace_context({"event-id": "e-1"}))
    carrier = tracing.current_carrier()
print(json.dumps({"on": on, "recording": span.is_recording(), "headers": headers, "carrier": carrier}))
"""


EXPORT_PROBE = """
from opentelemetry import trace
from event_contracts.service_defaults import tracing
assert tracing.configure_tracing("probe-service", "test")
with trace.get_tracer("probe").start_as_current_span("probe-request"):
    pass
tracing.shutdown_tracing()  # what a worker does on its way out: the batch is sent now
print("{}")
"""


def probe(script: str = PROBE, **env: str) -> dict[str, Any]:
    """Run ``script`` (tracing set up inside a span) in a fresh process with ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_sdk_disabled_means_no_spans_and_no_headers() -> None:
    result = probe(OTEL_SDK_DISABLED="true", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert result == {"on": False, "recording": False, "headers": {"event-id": "e-1"}, "carrier": None}


def test_without_an_endpoint_the_context_flows_but_nothing_is_recorded() -> None:
    result = probe()
    assert result["on"] is True and result["recording"] is False
    traceparent = result["headers"]["traceparent"]
    assert tracing.trace_id(traceparent) and int(traceparent[-2:], 16) & 1 == 0  # sampled out
    assert result["carrier"] == {"traceparent": traceparent}


def test_an_endpoint_turns_export_on_unless_the_sdk_is_disabled() -> None:
    assert tracing.exporting({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"})
    assert tracing.exporting({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4318/v1/traces"})
    assert not tracing.exporting({"OTEL_EXPORTER_OTLP_ENDPOINT": ""})
    assert not tracing.exporting(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_SDK_DISABLED": "true"}
    )


def test_an_endpoint_exports_the_spans_over_otlp_http_and_shutdown_flushes_them() -> None:
    received: list[tuple[str, str, bytes]] = []

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe(EXPORT_PROBE, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    ((path, content_type, body),) = received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    assert b"probe-request" in body and b"probe-service" in body


def test_a_replayed_dead_letter_keeps_its_trace() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    letter = DeadLetter(0, b"{}", {}, {"traceparent": traceparent, "tracestate": "shop=1"})

    headers = letter.replay_headers(datetime.now(UTC))
    assert headers["traceparent"] == traceparent and headers["tracestate"] == "shop=1"


def test_trace_id_reads_traceparent_and_traceresponse_values() -> None:
    assert tracing.trace_id("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") == (
        "0af7651916cd43dd8448eb211c80319c"
    )
    assert tracing.trace_id("garbage") is None and tracing.trace_id(None) is None
