"""Deprecated since 1.1 (removed in 2.0): use :mod:`event_contracts.inbox` (``Inbox.admit``).

Kept so that code written against 1.0 keeps working; no service of the platform uses it.
"""

from __future__ import annotations

from typing import Protocol

from event_contracts.delivery import Delivery


class ProcessedEvents(Protocol):
    """Implemented by each service over its own database, inside its unit of work."""

    def first_delivery(self, delivery: Delivery) -> bool:
        """Record the delivery's dedupe key; False when it was already recorded."""
        ...


class InMemoryProcessedEvents:
    """For unit tests and demos; forgets everything on restart."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def first_delivery(self, delivery: Delivery) -> bool:
        if delivery.dedupe_key in self.keys:
            return False
        self.keys.add(delivery.dedupe_key)
        return True
