"""What a consumer knows about one delivery of an event besides its payload.

The runtime builds a :class:`Delivery` for each message it hands to a callback; the inbox keys
its dedupe record on it. Plain data: no broker library is needed to make or read one (unit
tests build them by hand).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs

from event_contracts.serialization import utc_now


@attrs.frozen
class Delivery:
    """One delivery of an event to one consumer: ids, headers and how often it was tried."""

    event_id: UUID
    routing_key: str
    consumer: str = ""
    correlation_id: str | None = None
    retries: int = 0
    redelivered: bool = False
    headers: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def dedupe_key(self) -> str:
        """The idempotency key: one consumer handles one event id once."""
        return f"{self.consumer}:{self.event_id}"

    @property
    def occurred_at(self) -> datetime:
        """When the producer says it happened (header ``occurred-at``), else now."""
        stamp = self.headers.get("occurred-at")
        return datetime.fromisoformat(stamp) if isinstance(stamp, str) else utc_now()

    @staticmethod
    def event_id_from(message_id: str, routing_key: str) -> UUID:
        """A message id as an event id: the UUID itself, else a stable UUID derived from it."""
        try:
            return UUID(message_id)
        except ValueError:
            return uuid5(NAMESPACE_URL, f"shop:{routing_key}:{message_id}")
