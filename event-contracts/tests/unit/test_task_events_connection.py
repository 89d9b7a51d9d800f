"""Task events go out unconfirmed and several to a message; everything else a service
publishes stays confirmed, one message at a time."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from celery.worker.consumer import Consumer

from event_contracts import create_app
from event_contracts.runtime.consumer import ShopConsumer
from event_contracts.runtime.task_events import FLUSH_SECONDS

pytestmark = pytest.mark.unit


def test_the_task_events_connection_does_not_confirm_and_the_apps_publishes_do() -> None:
    app = create_app("billing", broker_urls=["amqp://u:p@rabbit1:5672/shop", "amqp://u:p@rabbit2:5672/shop"])
    consumer: Any = SimpleNamespace(app=app, ensure_connected=lambda connection: connection)

    events = ShopConsumer.connection_for_write(consumer, heartbeat=10)
    published = app.connection_for_write()

    assert events.transport_options["confirm_publish"] is False
    assert published.transport_options["confirm_publish"] is True
    # the rest of the broker settings are the app's: failover list, heartbeat, connection name
    assert events.alt == published.alt
    assert events.heartbeat == 10
    assert events.transport_options["client_properties"] == published.transport_options["client_properties"]


class _Hub:
    def __init__(self) -> None:
        self.scheduled: list[tuple[float, Any]] = []

    def call_later(self, delay: float, callback: Any) -> Any:
        entry = SimpleNamespace(callback=callback, cancelled=False)
        entry.cancel = lambda: setattr(entry, "cancelled", True)
        self.scheduled.append((delay, entry))
        return entry


def _consumer_with_events() -> tuple[Any, _Hub, list[str]]:
    """A ShopConsumer with only what the event flush uses: the loop's hub and Celery's flush."""
    flushed: list[str] = []
    hub = _Hub()
    consumer: Any = ShopConsumer.__new__(ShopConsumer)
    consumer.hub = hub
    consumer._flush_events = lambda: flushed.append("flush")
    return consumer, hub, flushed


def test_buffered_task_events_are_published_together_after_the_flush_interval() -> None:
    consumer, hub, flushed = _consumer_with_events()

    for _ in range(5):  # five events buffered in a row: one flush scheduled, none published yet
        consumer.on_send_event_buffered()

    assert [delay for delay, _ in hub.scheduled] == [FLUSH_SECONDS]
    assert flushed == []
    _, entry = hub.scheduled[0]
    entry.callback()
    assert flushed == ["flush"]
    consumer.on_send_event_buffered()  # the next event schedules the next flush
    assert len(hub.scheduled) == 2


def test_events_still_held_at_shutdown_are_published() -> None:
    consumer, hub, flushed = _consumer_with_events()
    consumer.on_send_event_buffered()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Consumer, "shutdown", lambda self: flushed.append("stopped"))
        consumer.shutdown()

    assert flushed == ["flush", "stopped"]
    assert hub.scheduled[0][1].cancelled
