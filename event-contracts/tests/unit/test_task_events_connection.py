"""Task events go out unconfirmed; everything else a service publishes stays confirmed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from event_contracts import create_app
from event_contracts.runtime.consumer import ShopConsumer

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
