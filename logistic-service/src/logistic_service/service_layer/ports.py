"""What the handlers need from outside besides the unit of work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from event_contracts import Event

Clock = Callable[[], datetime]
"""Now, as an aware UTC datetime."""


class EventPublisher(Protocol):
    """:class:`event_contracts.Publisher` in the worker, ``InMemoryBus`` in unit tests."""

    def publish(
        self,
        event: Event[Any],
        message: Any,
        *,
        correlation_id: str | None = None,
        headers: Any = None,
    ) -> UUID: ...
