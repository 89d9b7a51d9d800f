"""The transactional outbox: events are rows written with the change they announce.

``SqlOutbox`` (the writer) runs inside the API's transaction. ``SqlOutboxStore`` is what the
relay reads: unpublished rows in id order, claimed in batches. A row is claimed only when every
earlier event of its order is published, it is not parked and its retry time (after the broker
refused it) has come: a row that cannot be published holds back its own order and nothing
else. Parked rows stay until an operator requeues them (``order-service-outbox``). On
PostgreSQL a batch is claimed
with ``SELECT ... FOR UPDATE SKIP LOCKED`` and the transaction is held while the batch is
published (a second relay would skip those rows); a trigger on the table sends ``NOTIFY
order_outbox`` (delivered at commit) so the relay wakes at once instead of at its next poll.
On SQLite (one writer at a time) the batch is read in a short transaction and marked in a second
one, so publishing never holds the database lock the API needs to keep accepting orders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from event_contracts import Event
from event_contracts.service_defaults import tracing
from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from order_service.adapters import orm
from order_service.adapters.inserts import InsertBatch
from order_service.domain.identity import Actor
from order_service.service_layer.ports import (
    AbstractOutbox,
    Backlog,
    Batch,
    OutboxRow,
    OutboxStore,
    ParkedRow,
)

NOTIFY_CHANNEL = "order_outbox"


class SqlOutbox(AbstractOutbox):
    """Rows join the unit of work's insert batch: written with the order, in one statement."""

    def __init__(self, inserts: InsertBatch, session: Session) -> None:
        self.inserts = inserts
        self.session = session

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
                "trace_context": tracing.current_carrier(),
                "attempts": 0,
                "order_id": _order_id(payload),
            },
        )

    def parked(self, order_id: int) -> list[ParkedRow]:
        return _parked(self.session, orm.outbox.c.order_id == order_id)


def _order_id(payload: Mapping[str, Any]) -> int | None:
    """The order an event is about (every order event carries the order's ``id``)."""
    order_id = payload.get("id")
    return order_id if isinstance(order_id, int) else None


def _parked(session: Session, *where: Any) -> list[ParkedRow]:
    table = orm.outbox
    query = (
        select(
            table.c.id,
            table.c.order_id,
            table.c.event_id,
            table.c.routing_key,
            table.c.attempts,
            table.c.last_error,
            table.c.parked_at,
        )
        .where(table.c.parked_at.is_not(None), *where)
        .order_by(table.c.id)
    )
    return [ParkedRow(*row) for row in session.execute(query)]


class SqlOutboxStore(OutboxStore):
    def __init__(self, session_factory: Callable[[], Session], *, hold_locks: bool) -> None:
        self.session_factory = session_factory
        self.hold_locks = hold_locks

    def claim(self, limit: int) -> AbstractContextManager[Batch]:
        return self._claim(limit)

    @contextmanager
    def _claim(self, limit: int) -> Iterator[Batch]:
        table = orm.outbox
        earlier = table.alias("earlier")
        order_waits = (
            select(earlier.c.id)
            .where(
                earlier.c.order_id == table.c.order_id,
                earlier.c.id < table.c.id,
                earlier.c.published_at.is_(None),
            )
            .exists()
        )
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
                    table.c.trace_context,
                )
                .where(
                    table.c.published_at.is_(None),
                    table.c.parked_at.is_(None),
                    or_(
                        table.c.next_attempt_at.is_(None),
                        table.c.next_attempt_at <= datetime.now(UTC),
                    ),
                    ~order_waits,
                )
                .order_by(table.c.id)
                .limit(limit)
            )
            if self.hold_locks:
                query = query.with_for_update(skip_locked=True)
            batch = Batch([OutboxRow(**row._asdict()) for row in session.execute(query)])
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
                .values(
                    published_at=now,
                    attempts=table.c.attempts + 1,
                    last_error=None,
                    next_attempt_at=None,
                )
            )
        for row_id, error in batch.failures:  # the broker was not reached: not an attempt
            session.execute(update(table).where(table.c.id == row_id).values(last_error=error))
        for refusal in batch.refusals:
            parked = refusal.retry_in is None
            session.execute(
                update(table)
                .where(table.c.id == refusal.row_id)
                .values(
                    attempts=table.c.attempts + 1,
                    last_error=refusal.error,
                    next_attempt_at=None
                    if refusal.retry_in is None
                    else now + timedelta(seconds=refusal.retry_in),
                    parked_at=now if parked else None,
                )
            )
        session.commit()

    def purge(self, published_before: datetime) -> int:
        """Delete rows published before the given instant; returns how many."""
        table = orm.outbox
        with self.session_factory() as session:
            result = session.execute(delete(table).where(table.c.published_at < published_before))
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]

    def parked(self) -> list[ParkedRow]:
        with self.session_factory() as session:
            return _parked(session)

    def backlog(self) -> Backlog:
        """Cheap queries on the partial indexes of waiting and parked rows (the oldest waiting
        row is the one with the lowest id)."""
        table = orm.outbox
        waiting = (table.c.published_at.is_(None), table.c.parked_at.is_(None))
        with self.session_factory() as session:
            count = session.scalar(select(func.count()).select_from(table).where(*waiting))
            oldest = session.scalar(
                select(table.c.created_at).where(*waiting).order_by(table.c.id).limit(1)
            )
            parked = session.scalar(
                select(func.count()).select_from(table).where(table.c.parked_at.is_not(None))
            )
        if oldest is not None and oldest.tzinfo is None:  # SQLite keeps no offset: UTC
            oldest = oldest.replace(tzinfo=UTC)
        return Backlog(int(count or 0) + int(parked or 0), oldest, int(parked or 0))

    def count_parked(self) -> int:
        table = orm.outbox
        with self.session_factory() as session:
            query = select(func.count()).select_from(table).where(table.c.parked_at.is_not(None))
            return int(session.scalar(query) or 0)

    def requeue(
        self,
        *,
        row_ids: Sequence[int] = (),
        order_ids: Sequence[int] = (),
        everything: bool = False,
    ) -> int:
        table = orm.outbox
        chosen = [table.c.id.in_(row_ids), table.c.order_id.in_(order_ids)]
        with self.session_factory() as session:
            result = session.execute(
                update(table)
                .where(table.c.parked_at.is_not(None), *(() if everything else (or_(*chosen),)))
                .values(parked_at=None, next_attempt_at=None, attempts=0)
            )
            if session.get_bind().dialect.name == "postgresql":  # wake the relay now
                session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]
