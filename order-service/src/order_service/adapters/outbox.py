"""The transactional outbox: events are rows written with the change they announce.

``SqlOutbox`` (the writer) runs inside the API's transaction. ``SqlOutboxStore`` is what the
relay reads: unpublished rows in id order, claimed in batches. On PostgreSQL a batch is claimed
with ``SELECT ... FOR UPDATE SKIP LOCKED`` and the transaction is held while the batch is
published (a second relay would skip those rows); a trigger on the table sends ``NOTIFY
order_outbox`` (delivered at commit) so the relay wakes at once instead of at its next poll.
On SQLite (one writer at a time) the batch is read in a short transaction and marked in a second
one, so publishing never holds the database lock the API needs to keep accepting orders.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import attrs
from event_contracts import Event
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from order_service.adapters import orm
from order_service.adapters.inserts import InsertBatch
from order_service.domain.identity import Actor

NOTIFY_CHANNEL = "order_outbox"
ERROR_LIMIT = 2000


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


class SqlOutbox(AbstractOutbox):
    """Rows join the unit of work's insert batch: written with the order, in one statement."""

    def __init__(self, inserts: InsertBatch) -> None:
        self.inserts = inserts

    def add(
        self,
        event: Event[Any],
        message: Any,
        *,
        correlation_id: str | None = None,
        actor: Actor | None = None,
    ) -> None:
        payload = event.encode(message)
        self.inserts.add(
            orm.outbox,
            {
                "event_id": UUID(str(payload["event_id"])),
                "exchange": event.exchange,
                "routing_key": event.routing_key,
                "payload": payload,
                "correlation_id": correlation_id,
                "actor_subject": actor.subject if actor else None,
                "actor_token_id": actor.token_id if actor else None,
                "attempts": 0,
            },
        )


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

    @property
    def actor_headers(self) -> dict[str, str]:
        """Who caused the event, as message headers (absent when nobody was named)."""
        headers = {"actor-subject": self.actor_subject, "actor-token-id": self.actor_token_id}
        return {name: value for name, value in headers.items() if value}


@attrs.define
class Batch:
    """Rows claimed by the relay, and what became of each."""

    rows: list[OutboxRow]
    published: list[int] = attrs.field(factory=list)
    failures: list[tuple[int, str]] = attrs.field(factory=list)

    def mark_published(self, row: OutboxRow) -> None:
        self.published.append(row.id)

    def mark_failed(self, row: OutboxRow, error: BaseException) -> None:
        self.failures.append((row.id, f"{type(error).__name__}: {error}"[:ERROR_LIMIT]))


class OutboxStore(abc.ABC):
    """What the relay needs from the outbox table."""

    @abc.abstractmethod
    def claim(self, limit: int) -> AbstractContextManager[Batch]:
        """A batch of the oldest unpublished rows; the marks are saved when the block exits."""

    def purge(self, published_before: datetime) -> int:
        """Forget rows published before ``published_before`` (the table stays small)."""
        return 0


class SqlOutboxStore(OutboxStore):
    def __init__(self, session_factory: Callable[[], Session], *, hold_locks: bool) -> None:
        self.session_factory = session_factory
        self.hold_locks = hold_locks

    def claim(self, limit: int) -> AbstractContextManager[Batch]:
        return self._claim(limit)

    @contextmanager
    def _claim(self, limit: int) -> Iterator[Batch]:
        table = orm.outbox
        with self.session_factory() as session:
            query = (
                select(
                    table.c.id,
                    table.c.event_id,
                    table.c.exchange,
                    table.c.routing_key,
                    table.c.payload,
                    table.c.correlation_id,
                    table.c.attempts,
                    table.c.actor_subject,
                    table.c.actor_token_id,
                )
                .where(table.c.published_at.is_(None))
                .order_by(table.c.id)
                .limit(limit)
            )
            if self.hold_locks:
                query = query.with_for_update(skip_locked=True)
            batch = Batch([OutboxRow(*row) for row in session.execute(query)])
            if not self.hold_locks:
                session.commit()
            try:
                yield batch
            finally:
                self._save(session, batch)

    @staticmethod
    def _save(session: Session, batch: Batch) -> None:
        table = orm.outbox
        now = datetime.now(UTC)
        if batch.published:
            session.execute(
                update(table)
                .where(table.c.id.in_(batch.published))
                .values(published_at=now, attempts=table.c.attempts + 1, last_error=None)
            )
        for row_id, error in batch.failures:
            session.execute(
                update(table)
                .where(table.c.id == row_id)
                .values(attempts=table.c.attempts + 1, last_error=error)
            )
        session.commit()

    def purge(self, published_before: datetime) -> int:
        """Delete rows published before the given instant; returns how many."""
        table = orm.outbox
        with self.session_factory() as session:
            result = session.execute(delete(table).where(table.c.published_at < published_before))
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]
