"""The idempotency hook: the event id is the dedupe key; the service's own store remembers it.

At-least-once delivery means a consumer may see an event twice (a redelivery after a crash, a
publisher retry after a lost confirm). Record ``delivery.dedupe_key`` in the same database
transaction as the handler's effects, and skip the event when it is already there::

    @Order.submit.register_callback
    def post_invoice(order: Order, delivery: Delivery) -> None:
        with uow:
            if not uow.processed_events.first_delivery(delivery):
                return                      # already handled: do nothing twice
            uow.ledger.post(...)
            uow.commit()                    # effects and the dedupe key commit together
"""

from __future__ import annotations

from typing import Protocol

from event_contracts.event import Delivery


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
