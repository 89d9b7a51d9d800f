"""The unit of work: one database transaction, and the ports a handler may touch inside it.

``commit()`` first turns every event the touched orders recorded into an outbox row (the
platform message with a fresh event id), then commits: an order's change and the events that
announce it are written together or not at all. The relay publishes them later.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from event_contracts import Inbox
from event_contracts.contrib.sqlalchemy import SqlInbox
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from order_service.adapters import orm
from order_service.adapters.idempotency import (
    AbstractIdempotencyKeys,
    IdempotencyKeyTaken,
    SqlIdempotencyKeys,
    is_key_taken,
)
from order_service.adapters.inserts import InsertBatch
from order_service.adapters.outbox import AbstractOutbox, SqlOutbox
from order_service.adapters.repository import AbstractOrderRepository, SqlOrderRepository
from order_service.domain.identity import Actor
from order_service.service_layer.messages import contract_message


class AbstractUnitOfWork(abc.ABC):
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
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        for order in self.orders.seen:
            while order.events:
                descriptor, message = contract_message(order.events.pop(0), order)
                self.outbox.add(
                    descriptor, message, correlation_id=self.correlation_id, actor=self.actor
                )
        self._commit()

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    """New rows (orders, lines, idempotency keys, outbox events) are written at commit, in one
    statement on PostgreSQL; loaded orders change through the ORM session as usual."""

    def __init__(
        self, session_factory: Callable[[], Session], next_order_id: Callable[[], int] | None = None
    ) -> None:
        self.session_factory = session_factory
        self.next_order_id = next_order_id

    def __enter__(self) -> Self:
        self.session = self.session_factory()
        self.inserts = InsertBatch(
            one_statement=self.session.get_bind().dialect.name == "postgresql"
        )
        self.orders = SqlOrderRepository(self.session, self.inserts, self.next_order_id)
        self.idempotency_keys = SqlIdempotencyKeys(self.session, self.inserts)
        self.outbox = SqlOutbox(self.inserts, self.session)
        self.inbox = SqlInbox(self.session, orm.inbox)
        return super().__enter__()

    def __exit__(self, *args: Any) -> None:
        super().__exit__(*args)
        self.session.close()

    def _commit(self) -> None:
        if self.inserts:
            if self.inserts.one_statement and not self.session.in_transaction():
                # Nothing read or locked before: the one statement is atomic by itself, and
                # BEGIN and COMMIT would be two more round trips.
                self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            try:
                self.inserts.write(self.session)
            except IntegrityError as error:
                if is_key_taken(error):
                    raise IdempotencyKeyTaken(str(error.orig)) from error
                raise
        self.session.commit()

    def rollback(self) -> None:
        self.inserts.clear()
        self.session.rollback()
