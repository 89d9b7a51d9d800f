"""In-memory adapters for the abstract ports, and the use cases wired with them
(``bootstrap_test_app()``, cosmicpython's): unit tests need no broker and no database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import attrs
from event_contracts import Event, InMemoryInbox
from event_contracts.errors import UnroutableMessage

from order_service.bootstrap import Services, bootstrap
from order_service.domain.identity import Actor
from order_service.domain.model import Order
from order_service.service_layer.ports import (
    AbstractBilling,
    AbstractIdempotencyKeys,
    AbstractOrderRepository,
    AbstractOutbox,
    AbstractUnitOfWork,
    Batch,
    IdempotencyKeyTaken,
    OutboxRow,
    OutboxStore,
    ParkedRow,
    Refusal,
    StoredResponse,
)
from order_service.settings import Settings


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
        self.parked_rows: list[ParkedRow] = []

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

    def parked(self, order_id: int) -> list[ParkedRow]:
        return [row for row in self.parked_rows if row.order_id == order_id]


class FakeUnitOfWork(AbstractUnitOfWork):
    """Commits move the outbox's pending rows to ``committed``; a rollback drops them."""

    outbox: FakeOutbox
    idempotency_keys: FakeIdempotencyKeys
    inbox: InMemoryInbox

    def __init__(self) -> None:
        self.store: dict[int, Order] = {}
        self.idempotency_keys = FakeIdempotencyKeys()
        self.outbox = FakeOutbox()
        self.inbox = InMemoryInbox()
        self.commits = 0

    def __enter__(self) -> FakeUnitOfWork:
        self.orders = FakeRepository(self.store)
        super().__enter__()
        return self

    def _commit(self) -> None:
        self.outbox.committed += self.outbox.pending
        self.outbox.pending = []
        self.inbox.commit()
        self.commits += 1

    def rollback(self) -> None:
        self.outbox.pending = []
        self.inbox.rollback()


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
    """The claim contract of ``SqlOutboxStore``: id order, parked rows and rows whose retry time
    has not come are skipped, and so is a row while an earlier row of its order is unpublished
    (``hold_orders=False``: only while that earlier row is held, so that one batch can carry
    several rows of an order, as a relay of another store could see)."""

    def __init__(self, rows: list[OutboxRow], *, hold_orders: bool = True) -> None:
        self.rows = {row.id: row for row in rows}
        self.hold_orders = hold_orders
        self.published: list[int] = []
        self.failures: list[tuple[int, str]] = []
        self.refusals: list[Refusal] = []
        self.attempts: dict[int, int] = {row.id: row.attempts for row in rows}
        self.retry_at: dict[int, float] = {}
        self.parked_ids: set[int] = set()

    def claim(self, limit: int) -> AbstractContextManager[Batch]:
        return self._claim(limit)

    def _held(self, row_id: int) -> bool:
        return row_id in self.parked_ids or self.retry_at.get(row_id, 0.0) > time.monotonic()

    def _claimable(self, row: OutboxRow) -> bool:
        if row.id in self.published or self._held(row.id):
            return False
        earlier = [
            other.id
            for other in self.rows.values()
            if other.id < row.id
            and other.payload.get("id") == row.payload.get("id")
            and other.id not in self.published
        ]
        return not any(self._held(i) or self.hold_orders for i in earlier)

    @contextmanager
    def _claim(self, limit: int) -> Iterator[Batch]:
        claimable = [r for _, r in sorted(self.rows.items()) if self._claimable(r)]
        batch = Batch([attrs.evolve(r, attempts=self.attempts[r.id]) for r in claimable[:limit]])
        try:
            yield batch
        finally:
            self.published += batch.published
            self.failures += batch.failures
            for refusal in batch.refusals:
                self.refusals.append(refusal)
                self.attempts[refusal.row_id] += 1
                if refusal.retry_in is None:
                    self.parked_ids.add(refusal.row_id)
                else:
                    self.retry_at[refusal.row_id] = time.monotonic() + refusal.retry_in

    def parked(self) -> list[ParkedRow]:
        raise NotImplementedError

    def count_parked(self) -> int:
        return len(self.parked_ids)

    def requeue(
        self,
        *,
        row_ids: Sequence[int] = (),
        order_ids: Sequence[int] = (),
        everything: bool = False,
    ) -> int:
        chosen = {
            i
            for i in self.parked_ids
            if everything or i in row_ids or self.rows[i].payload.get("id") in order_ids
        }
        self.parked_ids -= chosen
        for row_id in chosen:
            self.attempts[row_id] = 0
            self.retry_at.pop(row_id, None)
        return len(chosen)


class FakePublisher:
    """Records what it publishes (thread-safe: the relay publishes from several lanes)."""

    def __init__(
        self,
        fail_after: int | None = None,
        fail_for: Iterable[int] = (),
        unroutable: Iterable[str] = (),
    ) -> None:
        self.fail_after = fail_after
        self.fail_for = set(fail_for)
        """Orders whose events fail as if the broker could not be reached."""
        self.unroutable = set(unroutable)
        """Routing keys no queue is bound for: the broker returns such messages."""
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
            if routing_key in self.unroutable:
                raise UnroutableMessage(exchange, routing_key)
            self.event_ids.append(event_id)
            self.sent.append((payload.get("id"), routing_key))


@attrs.define
class TestApp:
    """The use cases over fakes, and the fakes themselves for the test to arrange and inspect."""

    __test__ = False

    services: Services
    uow: FakeUnitOfWork
    """The one unit of work every ``services.uow()`` returns: state lasts across use cases."""
    billing: FakeBilling
    outbox: FakeOutboxStore


def bootstrap_test_app(outbox_rows: Sequence[OutboxRow] = ()) -> TestApp:
    """``bootstrap()`` over fakes (cosmicpython's ``bootstrap_test_app``): no migrations, and an
    in-memory SQLite URL and a broker URL that nothing connects to; no token issuer."""
    uow, billing, outbox = FakeUnitOfWork(), FakeBilling(), FakeOutboxStore(list(outbox_rows))
    services = bootstrap(
        Settings(
            database_url="sqlite://",
            broker_urls=("amqp://x:y@127.0.0.1:1/shop",),  # nothing listens: no broker reached
            oidc_issuer="",
        ),
        run_migrations=False,
        billing=billing,
        uow=lambda: uow,
        outbox_store=lambda: outbox,
    )
    return TestApp(services, uow, billing, outbox)
