"""The ports order's use cases, relay and edge need; adapters implement them, tests fake them
(tests/fakes.py).

The unit of work extends event-contracts' base (``__exit__``: roll back, then close); its
``commit`` first turns every event the touched orders recorded into an outbox row, so an
order's change and the events that announce it are written together or not at all.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, Self
from uuid import UUID

import attrs
from event_contracts import Event, Inbox
from event_contracts.service_defaults.unit_of_work import AbstractUnitOfWork as BaseUnitOfWork

from order_service.domain.identity import Actor, Caller
from order_service.domain.model import Order
from order_service.service_layer.messages import contract_message


class AbstractOrderRepository(abc.ABC):
    def __init__(self) -> None:
        self.seen: list[Order] = []

    def add(self, order: Order) -> None:
        """Store a new order; it has its database id when this returns."""
        self._add(order)
        self.seen.append(order)

    def get(self, order_id: int, *, for_update: bool = False) -> Order | None:
        """The order, or None; ``for_update`` locks its row until the transaction ends."""
        order = self._get(order_id, for_update=for_update)
        if order is not None and order not in self.seen:
            self.seen.append(order)
        return order

    @abc.abstractmethod
    def _add(self, order: Order) -> None: ...

    @abc.abstractmethod
    def _get(self, order_id: int, *, for_update: bool) -> Order | None: ...


@attrs.frozen
class StoredResponse:
    request_hash: str
    order_id: int
    status: int
    body: str
    """The response body exactly as first sent (JSON text)."""


class IdempotencyKeyTaken(Exception):  # noqa: N818 - the key is taken, by a concurrent request
    """Another request with the same key committed first: replay its response."""


class AbstractIdempotencyKeys(abc.ABC):
    @abc.abstractmethod
    def get(self, key: str) -> StoredResponse | None: ...

    @abc.abstractmethod
    def add(self, key: str, response: StoredResponse) -> None:
        """Remember ``response`` for ``key``; :class:`IdempotencyKeyTaken` if already there
        (raised here, or by the unit of work's commit when the row is written then)."""


ERROR_LIMIT = 2000


@attrs.frozen
class ParkedRow:
    """An event the broker refused until the relay gave up on it: kept for an operator."""

    id: int
    order_id: int | None
    event_id: UUID
    routing_key: str
    attempts: int
    last_error: str | None
    parked_at: datetime


class AbstractOutbox(abc.ABC):
    @abc.abstractmethod
    def add(
        self,
        event: Event[Any],
        message: Any,
        *,
        correlation_id: str | None = None,
        actor: Actor | None = None,
    ) -> None:
        """Queue ``message`` to be published as ``event`` once the transaction commits."""

    @abc.abstractmethod
    def parked(self, order_id: int) -> list[ParkedRow]:
        """The order's events the relay parked (normally none)."""


@attrs.frozen
class OutboxRow:
    id: int
    event_id: UUID
    exchange: str
    routing_key: str
    payload: Mapping[str, Any]
    correlation_id: str | None
    attempts: int
    actor_subject: str | None = None
    actor_token_id: str | None = None
    trace_context: Mapping[str, str] | None = None
    """The trace of the request that wrote the row (``traceparent``/``tracestate``), if any."""

    @property
    def actor_headers(self) -> dict[str, str]:
        """Who caused the event, as message headers (absent when nobody was named)."""
        headers = {"actor-subject": self.actor_subject, "actor-token-id": self.actor_token_id}
        return {name: value for name, value in headers.items() if value}


@attrs.frozen
class Refusal:
    """The broker refused the row itself: try it again ``retry_in`` seconds from now, or, with
    ``retry_in`` None, park it."""

    row_id: int
    error: str
    retry_in: float | None


@attrs.define
class Batch:
    """Rows claimed by the relay, and what became of each."""

    rows: list[OutboxRow]
    published: list[int] = attrs.field(factory=list)
    failures: list[tuple[int, str]] = attrs.field(factory=list)
    """Not published because the broker could not be reached: only the error is noted."""
    refusals: list[Refusal] = attrs.field(factory=list)

    def mark_published(self, row: OutboxRow) -> None:
        self.published.append(row.id)

    def mark_failed(self, row: OutboxRow, error: BaseException) -> None:
        self.failures.append((row.id, describe(error)))

    def mark_refused(self, row: OutboxRow, error: BaseException, retry_in: float | None) -> None:
        self.refusals.append(Refusal(row.id, describe(error), retry_in))


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_LIMIT]


@attrs.frozen
class Backlog:
    """What waits in the outbox (the relay's metrics)."""

    unpublished: int
    """Rows not yet published, parked ones included."""
    oldest_waiting_since: datetime | None
    """When the oldest unpublished row that is not parked was written; None: nothing waits."""
    parked: int


class OutboxStore(abc.ABC):
    """What the relay needs from the outbox table."""

    def backlog(self) -> Backlog:
        """How much waits and since when (sampled for ``shop_outbox_*`` metrics)."""
        return Backlog(0, None, self.count_parked())

    @abc.abstractmethod
    def claim(self, limit: int) -> AbstractContextManager[Batch]:
        """A batch of the oldest unpublished rows; the marks are saved when the block exits."""

    def purge(self, published_before: datetime) -> int:
        """Forget rows published before ``published_before`` (the table stays small)."""
        return 0

    @abc.abstractmethod
    def parked(self) -> list[ParkedRow]:
        """Every parked row, oldest first."""

    @abc.abstractmethod
    def count_parked(self) -> int:
        """How many rows are parked (``/readyz``)."""

    @abc.abstractmethod
    def requeue(
        self,
        *,
        row_ids: Sequence[int] = (),
        order_ids: Sequence[int] = (),
        everything: bool = False,
    ) -> int:
        """Give parked rows (these, those of these orders, or all) to the relay again, with a
        fresh count of attempts; returns how many."""


class InvoiceNotFound(LookupError):  # noqa: N818
    pass


class BillingTimeout(TimeoutError):  # noqa: N818
    pass


class BillingUnavailable(ConnectionError):  # noqa: N818
    """The broker could not be reached (or refused us): billing was never asked."""


class BillingError(RuntimeError):
    """Billing answered with an error other than not-found."""


class AbstractBilling(abc.ABC):
    timeout: float

    @abc.abstractmethod
    def invoice(self, order_id: int) -> dict[str, Any]:
        """The order's invoice as JSON, or InvoiceNotFound / BillingTimeout / ..."""


class PayloadPublisher(Protocol):
    """``event_contracts.Publisher`` as the relay uses it."""

    def publish_payload(
        self,
        routing_key: str,
        exchange: str,
        payload: Mapping[str, Any],
        *,
        event_id: UUID,
        correlation_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
        occurred_at: str | None = None,
    ) -> None: ...


class Verifier(Protocol):
    """Checks a bearer token: the caller it names, or ``InvalidToken``/``IssuerUnavailable``."""

    def verify(self, token: str) -> Caller: ...


class AbstractUnitOfWork(BaseUnitOfWork):
    """One database transaction, and the ports a handler may touch inside it."""

    orders: AbstractOrderRepository
    idempotency_keys: AbstractIdempotencyKeys
    outbox: AbstractOutbox
    inbox: Inbox
    correlation_id: str | None = None
    """Carried by the outbox rows this transaction writes (``correlation-id`` header)."""
    actor: Actor | None = None
    """Who caused this transaction's events (``actor-subject``/``actor-token-id`` headers)."""

    def __enter__(self) -> Self:
        self.correlation_id = self.actor = None
        return super().__enter__()

    def commit(self) -> None:
        for order in self.orders.seen:
            while order.events:
                descriptor, message = contract_message(order.events.pop(0), order)
                self.outbox.add(
                    descriptor, message, correlation_id=self.correlation_id, actor=self.actor
                )
        self._commit()

    @abc.abstractmethod
    def _commit(self) -> None:
        """Write what the block staged and commit the transaction."""
