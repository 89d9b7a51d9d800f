"""The benchmark's OTLP/HTTP receiver (bench/otlp_sink.py) accepts what the SDK's exporter sends.

The telemetry comparison is valid only if the "on" side's spans really leave the process and
are accepted; these export real spans with the OpenTelemetry SDK's OTLP/HTTP exporter to the
sink and read its counts back.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

pytestmark = pytest.mark.unit

SINK = Path(__file__).resolve().parent.parent / "bench" / "otlp_sink.py"


def load_sink() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_otlp_sink", SINK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


otlp_sink = load_sink()


@pytest.fixture
def sink_url() -> Iterator[str]:
    port = otlp_sink.free_port()
    servers = otlp_sink.serve(["127.0.0.1"], port)
    yield f"http://127.0.0.1:{port}"
    for server in servers:
        server.shutdown()
        server.server_close()


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/stats", timeout=5) as response:
        counts: dict[str, int] = json.load(response)
    return counts


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_the_sink_accepts_and_counts_the_sdk_exporters_spans(sink_url: str, compression: str | None) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression

    exporter = OTLPSpanExporter(
        endpoint=f"{sink_url}/v1/traces", compression=Compression.Gzip if compression else None
    )
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("bench-test")
    for _ in range(600):  # more than one batch (512)
        with tracer.start_as_current_span("parent"), tracer.start_as_current_span("child"):
            pass

    assert provider.force_flush(timeout_millis=10_000)  # True: every export answered with success
    provider.shutdown()

    counts = stats(sink_url)
    assert counts["spans"] == 1200
    assert counts["requests"] >= 3
    assert counts["rejected"] == 0


def test_the_sink_refuses_what_is_no_trace_export(sink_url: str) -> None:
    refused = urllib.request.Request(f"{sink_url}/v1/traces", data=b"\xff\xff not protobuf", method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(refused, timeout=5)

    assert error.value.code == 400
    assert stats(sink_url) == {"requests": 0, "spans": 0, "bytes": 0, "rejected": 1}
