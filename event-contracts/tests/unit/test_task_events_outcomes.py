"""One task event per handling: the outcome, carrying the receipt; Flower's view stays whole."""

from __future__ import annotations

import time
from typing import Any

import pytest
from celery.events.dispatcher import EventDispatcher
from celery.events.event import Event
from celery.events.state import State

from event_contracts import create_app
from event_contracts.runtime import task_events
from event_contracts.runtime.task_events import OutcomeEventDispatcher, task_events_from_env

pytestmark = pytest.mark.unit

RECEIPT = {
    "uuid": "billing-1",
    "name": "order.v2.submit",
    "args": "()",
    "kwargs": "{'order': ...}",
    "root_id": "root-1",
    "parent_id": None,
    "retries": 0,
    "eta": None,
    "expires": None,
}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """What the dispatcher hands to Celery's own ``send`` (which publishes it)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(self: Any, type: str, blind: bool = False, **fields: Any) -> None:
        calls.append((type, fields))

    monkeypatch.setattr(EventDispatcher, "send", record)
    return calls


def dispatcher() -> OutcomeEventDispatcher:
    return OutcomeEventDispatcher(connection=None, enabled=False)


def test_a_handled_task_is_one_succeeded_event_carrying_its_receipt(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    events = dispatcher()
    events.send("task-received", **RECEIPT)
    events.send("task-started", uuid="billing-1")
    events.send("task-succeeded", uuid="billing-1", result="None", runtime=0.004)

    assert [type for type, _ in sent] == ["task-succeeded"]
    fields = sent[0][1]
    assert {k: fields[k] for k in RECEIPT} == RECEIPT
    assert fields["result"] == "None" and fields["runtime"] == 0.004
    assert fields["received"] <= fields["started"] <= time.time()


def test_flower_reads_the_outcome_as_the_whole_task(sent: list[tuple[str, dict[str, Any]]]) -> None:
    """Celery's event state (Flower's) gets name, worker, state and times from the one event."""
    events = dispatcher()
    events.send("task-received", **RECEIPT)
    events.send("task-started", uuid="billing-1")
    events.send("task-failed", uuid="billing-1", exception="LedgerError('no')", traceback="...")
    state = State()
    for type, fields in sent:
        state.event(Event(type, hostname="billing-service@a1", clock=1, local_received=time.time(), **fields))

    task = state.tasks["billing-1"]
    assert (task.name, task.state, task.worker.hostname) == (
        "order.v2.submit",
        "FAILURE",
        "billing-service@a1",
    )
    assert task.exception == "LedgerError('no')"
    assert task.received is not None and task.started is not None and task.received <= task.started


def test_a_task_revoked_before_it_started_carries_no_receipt_time(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    events = dispatcher()
    events.send("task-received", **RECEIPT)
    events.send("task-revoked", uuid="billing-1", terminated=False, signum=None, expired=False)

    ((type, fields),) = sent
    assert type == "task-revoked" and fields["name"] == "order.v2.submit"
    assert "received" not in fields, "Flower would uncount a prefetched task it never counted"


def test_worker_events_go_as_they_are(sent: list[tuple[str, dict[str, Any]]]) -> None:
    dispatcher().send("worker-heartbeat", freq=2.0, active=1)
    assert sent == [("worker-heartbeat", {"freq": 2.0, "active": 1})]


def test_receipts_of_tasks_that_never_end_are_bounded(
    sent: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_events, "MAX_RECEIPTS", 3)
    events = dispatcher()
    for n in range(5):
        events.send("task-received", **{**RECEIPT, "uuid": f"t-{n}"})
    events.send("task-succeeded", uuid="t-0", result="None", runtime=0.1)

    assert len(events._receipts) == 3
    assert "name" not in sent[0][1], "the oldest receipt was dropped; its outcome goes without it"


def test_task_events_all_is_celerys_stock_stream(
    sent: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASK_EVENTS", "all")
    events = dispatcher()
    events.send("task-received", **RECEIPT)
    events.send("task-started", uuid="billing-1")
    events.send("task-succeeded", uuid="billing-1", result="None", runtime=0.004)

    assert [type for type, _ in sent] == ["task-received", "task-started", "task-succeeded"]


def test_a_wrong_task_events_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="TASK_EVENTS='some'"):
        task_events_from_env({"TASK_EVENTS": "some"})


def test_a_service_apps_worker_uses_the_outcome_dispatcher() -> None:
    app = create_app("billing", broker_urls=["memory://"])
    assert issubclass(app.events.Dispatcher, OutcomeEventDispatcher)
