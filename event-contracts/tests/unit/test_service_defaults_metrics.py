"""Metrics recorded in the runtime's one dispatch path, RPC timing, and multiprocess collection.

A billing app on the in-memory transport runs its real ``order.v*.submit`` tasks eagerly; only
``ServiceTask.republish`` (the broker publish behind a retry or a dead letter) is replaced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY

from event_contracts import Delivery, InMemoryInbox, Order, PoisonMessage, create_app
from event_contracts.errors import RemoteCallError, RemoteCallTimeout
from event_contracts.runtime import RetryPolicy, ServiceTask
from event_contracts.service_defaults import metrics

pytestmark = pytest.mark.unit

OUTCOMES = "shop_handler_outcomes_total"
PARIS = timezone(timedelta(hours=1))


def outcomes(event: str, version: str, outcome: str, reason: str = "") -> float:
    labels = {"event": event, "version": version, "outcome": outcome, "reason": reason}
    return REGISTRY.get_sample_value(OUTCOMES, labels) or 0.0


def durations(event: str, version: str, outcome: str) -> float:
    labels = {"event": event, "version": version, "outcome": outcome}
    return REGISTRY.get_sample_value("shop_handler_duration_seconds_count", labels) or 0.0


def order_payload() -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "id": 1,
        "customer_id": "c",
        "currency": "EUR",
        "lines": [{"id": 1, "quantity": 1, "unit_price": "1.00"}],
        "occurred_at": "2024-01-01T00:00:00Z",
    }


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Any:
    republished: list[dict[str, Any]] = []

    def republish(
        self: ServiceTask, exchange: str, routing_key: str, headers: Any, retries: int, **_: Any
    ) -> None:
        republished.append({"exchange": exchange, "headers": dict(headers), "retries": retries})

    monkeypatch.setattr(ServiceTask, "republish", republish)
    app = create_app("billing", broker_urls=["memory://"], shop_retry_policy=RetryPolicy(max_retries=1))
    app.republished = republished
    return app


@pytest.fixture
def callback() -> Iterator[list[Any]]:
    """What the subscribed callback does: a list of behaviours popped per call."""
    behaviours: list[Any] = []
    inbox = InMemoryInbox()

    def handle(order: Order, delivery: Delivery) -> None:
        behaviour = behaviours.pop(0) if behaviours else "ok"
        if isinstance(behaviour, BaseException):
            raise behaviour
        if inbox.admit(delivery):
            inbox.commit()

    Order.submit.register_callback(handle)
    yield behaviours
    Order.submit.unregister_callback(handle)


def run(app: Any, payload: Any, *, version: str = "v2", retries: int = 0, event_id: str | None = None) -> Any:
    task = app.tasks[f"order.{version}.submit"]
    # eagerly, the task id stands for the event id (no headers): one id, one event
    return task.apply(kwargs={"instance": payload}, task_id=event_id or str(uuid.uuid4()), retries=retries)


def test_a_handled_delivery_and_its_duplicate_are_counted_apart(app: Any, callback: list[Any]) -> None:
    handled, duplicate = (
        outcomes("order.submit", "v2", "handled"),
        outcomes("order.submit", "v2", "duplicate"),
    )
    timed = durations("order.submit", "v2", "handled")
    event_id = str(uuid.uuid4())
    run(app, order_payload(), event_id=event_id)
    run(app, order_payload(), event_id=event_id)  # the same event again: the inbox drops it
    assert outcomes("order.submit", "v2", "handled") == handled + 1
    assert outcomes("order.submit", "v2", "duplicate") == duplicate + 1
    assert durations("order.submit", "v2", "handled") == timed + 1


def test_a_failing_handler_is_counted_retried_then_dead_lettered_when_exhausted(
    app: Any, callback: list[Any]
) -> None:
    retried = outcomes("order.submit", "v2", "retried")
    exhausted = outcomes("order.submit", "v2", "dead-lettered", "retries-exhausted")
    callback.extend([RuntimeError("database down"), RuntimeError("still down")])
    run(app, order_payload(), retries=0)
    assert outcomes("order.submit", "v2", "retried") == retried + 1
    run(app, order_payload(), retries=1)  # max_retries=1: this one is dead-lettered
    assert outcomes("order.submit", "v2", "dead-lettered", "retries-exhausted") == exhausted + 1
    assert outcomes("order.submit", "v2", "retried") == retried + 1
    assert [r["retries"] for r in app.republished] == [1, 1]


def test_poison_and_invalid_payloads_are_dead_lettered_with_their_reason(
    app: Any, callback: list[Any]
) -> None:
    rejected = outcomes("order.submit", "v2", "dead-lettered", "rejected-by-handler")
    invalid = outcomes("order.submit", "v1", "dead-lettered", "invalid-payload")
    callback.append(PoisonMessage("no such order"))
    run(app, order_payload())
    run(app, {"id": "not a number"}, version="v1")
    assert outcomes("order.submit", "v2", "dead-lettered", "rejected-by-handler") == rejected + 1
    assert outcomes("order.submit", "v1", "dead-lettered", "invalid-payload") == invalid + 1
    assert {r["headers"]["x-dead-letter-reason"] for r in app.republished} == {
        "rejected-by-handler",
        "invalid-payload",
    }


def test_a_message_rejected_before_any_handler_is_counted_by_its_task_name() -> None:
    before = outcomes("order.submit", "v9", "dead-lettered", "unknown-event-version")
    metrics.count_rejected_message("order.v9.submit", "unknown-event-version")
    assert outcomes("order.submit", "v9", "dead-lettered", "unknown-event-version") == before + 1


def rpc(call: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("shop_rpc_duration_seconds_count", {"call": call, "outcome": outcome})
        or 0.0
    )


def test_rpc_calls_are_timed_by_outcome_and_timeouts_counted() -> None:
    call = "billing.sync.test_call"
    timeouts = REGISTRY.get_sample_value("shop_rpc_timeouts_total", {"call": call}) or 0.0
    with metrics.observe_call(call):
        pass
    with pytest.raises(RemoteCallTimeout), metrics.observe_call(call):
        raise RemoteCallTimeout(call, 0.1)
    with pytest.raises(RemoteCallError), metrics.observe_call(call):
        raise RemoteCallError(call, "not-found", "none")
    assert (rpc(call, "ok"), rpc(call, "timeout"), rpc(call, "error")) == (1, 1, 1)
    assert REGISTRY.get_sample_value("shop_rpc_timeouts_total", {"call": call}) == timeouts + 1


PLACED_TO_DISPATCHED = "shop_order_placed_to_dispatched_seconds"


def placed_to_dispatched(sample: str) -> float:
    return REGISTRY.get_sample_value(f"{PLACED_TO_DISPATCHED}_{sample}") or 0.0


def test_an_orders_dispatch_is_timed_from_its_creation_in_utc_never_negative() -> None:
    count, total = placed_to_dispatched("count"), placed_to_dispatched("sum")
    placed = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    metrics.observe_order_dispatched(placed, placed + timedelta(seconds=90))
    # a naive time (SQLite keeps no zone) is UTC, whatever the other one's zone
    metrics.observe_order_dispatched(
        placed.replace(tzinfo=None), (placed + timedelta(seconds=3)).astimezone(PARIS)
    )
    metrics.observe_order_dispatched(placed, placed - timedelta(seconds=2))  # clocks apart: 0
    assert placed_to_dispatched("count") == count + 3
    assert placed_to_dispatched("sum") == pytest.approx(total + 93)
    le_1s = REGISTRY.get_sample_value(f"{PLACED_TO_DISPATCHED}_bucket", {"le": "1.0"})
    le_60s = REGISTRY.get_sample_value(f"{PLACED_TO_DISPATCHED}_bucket", {"le": "60.0"})
    assert le_1s is not None and le_60s is not None and le_60s - le_1s >= 1  # the 3 s one


CHILD = """
import sys
from event_contracts.service_defaults import metrics
for _ in range(int(sys.argv[1])):
    with metrics.observe_handler("order.v2.submit"):
        pass
metrics.set_outbox(backlog=int(sys.argv[1]), oldest_age_seconds=float(sys.argv[1]), parked=0)
"""


def test_values_of_two_processes_are_added_up_from_the_multiprocess_directory(tmp_path: Path) -> None:
    env = {**os.environ, metrics.MULTIPROC_DIR_ENV: str(tmp_path)}
    for count in ("2", "3"):  # two processes, as two gunicorn workers or pool children
        subprocess.run([sys.executable, "-c", CHILD, count], env=env, check=True, timeout=60)
    assert len(list(tmp_path.glob("*.db"))) >= 2
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    labels = {"event": "order.submit", "version": "v2", "outcome": "handled", "reason": ""}
    assert registry.get_sample_value(OUTCOMES, labels) == 5
    # a gauge: the most recent value of any process, not their sum
    assert registry.get_sample_value("shop_outbox_backlog_rows") == 3


def test_prepare_empties_the_directory_left_by_an_earlier_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv(metrics.MULTIPROC_DIR_ENV, str(tmp_path))
    metrics.prepare()
    assert list(tmp_path.iterdir()) == []
