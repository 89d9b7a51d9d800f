"""Task events for Flower: a service's worker leaves out ``task-started`` and sends the rest."""

from __future__ import annotations

from typing import Any

import pytest

from event_contracts import create_app

pytestmark = pytest.mark.unit

LIFECYCLE = ("task-received", "task-started", "task-succeeded", "task-failed", "task-retried")


def sent_by_worker_dispatcher(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> list[str]:
    """The event types a service worker's dispatcher publishes for one task's whole lifecycle."""
    app = create_app("billing", broker_urls=["memory://"], **settings)
    published: list[str] = []
    with app.connection_for_write() as connection:
        dispatcher = app.events.Dispatcher(connection, hostname="billing-service@test", enabled=True)
        monkeypatch.setattr(dispatcher, "_publish", lambda event, *_, **__: published.append(event["type"]))
        for event_type in LIFECYCLE:
            dispatcher.send(event_type, uuid="e-1.billing")
        dispatcher.close()
    return published


def test_a_worker_sends_every_task_event_but_started(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sent_by_worker_dispatcher(monkeypatch) == [t for t in LIFECYCLE if t != "task-started"]


def test_skipped_task_events_empty_sends_them_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIPPED_TASK_EVENTS", "")

    assert sent_by_worker_dispatcher(monkeypatch) == list(LIFECYCLE)
