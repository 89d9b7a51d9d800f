"""The one log format: service and role on every line, the bound context, a task's ids, JSON."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from event_contracts import Order, create_app
from event_contracts.service_defaults import logging as service_logging
from event_contracts.testing import subscribed

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


def test_a_line_logged_in_a_task_carries_its_task_event_and_order(
    captured: pytest.CaptureFixture[str],
) -> None:
    service_logging.configure("billing-service", "worker", json=True)
    app = create_app("billing", broker_urls=["memory://"])

    def handle(order: Order) -> None:
        logging.getLogger("billing_service.handlers").info("posting")

    payload = {
        "event_id": str(uuid.uuid4()),
        "id": 42,
        "customer_id": "c",
        "currency": "EUR",
        "lines": [{"id": 1, "quantity": 1, "unit_price": "1.00"}],
        "occurred_at": "2024-01-01T00:00:00Z",
    }
    with subscribed(Order.submit, handle):
        app.tasks["order.v2.submit"].apply(kwargs={"instance": payload}, task_id="t-1")
    lines = [json.loads(line) for line in captured.readouterr().out.splitlines()]
    posting = next(line for line in lines if line["message"] == "posting")
    assert (posting["task_id"], posting["order_id"], posting["service"]) == ("t-1", "42", "billing-service")


@pytest.mark.parametrize(("level", "receipts_logged"), [("INFO", False), ("DEBUG", True)])
def test_a_workers_received_lines_are_logged_at_debug_only_and_its_outcome_lines_at_info(
    captured: pytest.CaptureFixture[str], level: str, receipts_logged: bool
) -> None:
    receipts = logging.getLogger(service_logging.RECEIPT_LOGGER)
    saved = receipts.level
    try:
        service_logging.configure("billing-service", "worker", level=level)
        # what Celery's strategy asks once, when the worker starts, before logging each receipt
        assert receipts.isEnabledFor(logging.INFO) is receipts_logged
        assert logging.getLogger("celery.app.trace").isEnabledFor(logging.INFO)
        assert receipts.isEnabledFor(logging.WARNING)
    finally:
        receipts.setLevel(saved)
