"""The one log format: service and role on every line, the bound context, JSON on request."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from event_contracts.service_defaults import logging as service_logging

pytestmark = pytest.mark.unit


@pytest.fixture
def captured(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """stdout, where the handler writes; the root logger is restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield capsys
    root.handlers[:] = handlers
    root.setLevel(level)


def test_text_lines_carry_service_role_and_the_bound_correlation_id(
    captured: pytest.CaptureFixture[str],
) -> None:
    service_logging.configure("billing-service", "worker", json=False)
    log = logging.getLogger("billing_service.test")
    log.info("outside")
    with service_logging.bind(correlation_id="corr-1", event_id="ev-1"):
        log.warning("inside %s", "a task")
    outside, inside = captured.readouterr().out.splitlines()
    assert " INFO billing-service/worker billing_service.test: outside" in outside
    assert "correlation_id" not in outside
    assert inside.endswith(
        "WARNING billing-service/worker billing_service.test: inside a task correlation_id=corr-1 event_id=ev-1"
    )


def test_json_lines_are_one_object_each_with_the_same_fields(captured: pytest.CaptureFixture[str]) -> None:
    service_logging.configure("order-service", "edge", json=True)
    with service_logging.bind(correlation_id="corr-2"):
        logging.getLogger("order_service.api").error("refused")
    line = json.loads(captured.readouterr().out)
    assert {k: line[k] for k in ("level", "logger", "message", "service", "role", "correlation_id")} == {
        "level": "ERROR",
        "logger": "order_service.api",
        "message": "refused",
        "service": "order-service",
        "role": "edge",
        "correlation_id": "corr-2",
    }
    assert "time" in line
