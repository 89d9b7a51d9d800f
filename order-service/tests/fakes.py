"""In-memory adapters for the abstract ports: unit tests need no broker and no database server."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from event_contracts import Event, InMemoryProcessedEvents

from order_service.adapters.billing import AbstractBilling
from order_service.adapters.idempotency import (
    AbstractIdempotencyKeys,
    IdempotencyKeyTaken,
    StoredResponse,
)
from order_service.adapters.outbox import AbstractOutbox, Batch, OutboxRow, OutboxStore
from order_service.adapters.repository import AbstractOrderRepository
from order_service.domain.identity import Actor
from order_service.domain.model import Order
from order_service.service_layer.unit_of_work import AbstractUnitOfWork


class FakeRepository(AbstractOrderRepository):
    def __init__(self, orders: dict[int, Order]) -> None:
        super().__init__()
        self.orders = orders

    def _add(self, order: Order) -> None:
        order.id = max(self.orders, default=0) + 1
        self.orders[order.id] = order

    def _get(self, order_id: int, *, for_update: bool) -> Order | None:
        return self.orders.get(order_id)


class FakeIdempotencyKeys(AbstractIdempotencyKeys):
    def __init__(self) -> None:
        self.keys: dict[str, StoredResponse] = {}

    def get(self, key: str) -> StoredResponse | None:
        return self.keys.get(key)

    def add(self, key: str, response: StoredResponse) -> None:
        if key in self.keys:
            raise IdempotencyKeyTaken(key)
        self.keys[key] = response


class FakeOutbox(AbstractOutbox):
    def __init__(self) -> None:
        self.pending: list[tuple[Event[Any], Any, str | None]] = []
        self.committed: list[tuple[Event[Any], Any, str | None]] = []

        self.actors: list[Actor | None] = []

    def add(
        self,
        event: Event[Any],
        message: Any,
        *,
        correlation_id: str | None = None,
        actor: Actor | None = None,
    ) -> None:
        self.pending.append((event, message, correlation_id))
        self.actors.append(actor)

    def messages(self, event: Event[Any]) -> list[Any]:
        return [message for e, message, _ in self.committed if e is event]


class FakeUnitOfWork(AbstractUnitOfWork):
    """Commits move the outbox's pending rows to ``committed``; a rollback drops them."""

    outbox: FakeOutbox
    idempotency_keys: FakeIdempotencyKeys
    processed_events: InMemoryProcessedEvents

    def __init__(self) -> None:
        self.store: dict[int, Order] = {}
        self.idempotency_keys = FakeIdempotencyKeys()
        self.outbox = FakeOutbox()
        self.processed_events = InMemoryProcessedEvents()
        self.commits = 0

    def __enter__(self) -> FakeUnitOfWork:
        self.orders = FakeRepository(self.store)
        super().__enter__()
        return self

    def _commit(self) -> None:
        self.outbox.committed += self.outbox.pending
        self.outbox.pending = []
        self.commits += 1

    def rollback(self) -> None:
        self.outbox.pending = []


class FakeBilling(AbstractBilling):
    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self.answer: dict[str, Any] | Exception = LookupError("no answer configured")
        self.asked: list[int] = []

    def invoice(self, order_id: int) -> dict[str, Any]:
        self.asked.append(order_id)
        if isinstance(self.answer, Exception):
            raise self.answer
        return dict(self.answer)


class FakeOutboxStore(OutboxStore):
    def __init__(self, rows: list[OutboxRow]) -> None:
        self.rows = {row.id: row for row in rows}
        self.published: list[int] = []
        self.failures: list[tuple[int, str]] = []

    def claim(self, limit: int) -> AbstractContextManager[Batch]:
        return self._claim(limit)

    @contextmanager
    def _claim(self, limit: int) -> Iterator[Batch]:
        unpublished = [r for i, r in sorted(self.rows.items()) if i not in self.published]
        batch = Batch(unpublished[:limit])
        try:
            yield batch
        finally:
            self.published += batch.published
            self.failures += batch.failures


class FakePublisher:
    """Records what it publishes (thread-safe: the relay publishes from several lanes)."""

    def __init__(self, fail_after: int | None = None, fail_for: Iterable[int] = ()) -> None:
        self.fail_after = fail_after
        self.fail_for = set(fail_for)
        self.event_ids: list[Any] = []
        self.sent: list[tuple[int, str]] = []
        self.lock = threading.Lock()

    def publish_payload(
        self,
        routing_key: str,
        exchange: str,
        payload: Any,
        *,
        event_id: Any,
        correlation_id: str | None = None,
        headers: Any = None,
        occurred_at: str | None = None,
    ) -> None:
        with self.lock:
            if self.fail_after is not None and len(self.event_ids) >= self.fail_after:
                raise ConnectionError("broker unreachable")
            if payload.get("id") in self.fail_for:
                raise ConnectionError(f"cannot publish order {payload['id']}")
            self.event_ids.append(event_id)
            self.sent.append((payload.get("id"), routing_key))
