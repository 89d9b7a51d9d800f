"""The unit of work over SQLAlchemy: an order's change, its outbox rows, its idempotency key
and the inbox record of the fact that caused it, in one transaction.

``__enter__`` / ``__exit__`` (roll back, then close) come from
``event_contracts.service_defaults.unit_of_work``; this class attaches the repositories and
writes new rows (orders, lines, idempotency keys, outbox events) at commit, in one statement
on PostgreSQL; loaded orders change through the ORM session as usual.
"""

from __future__ import annotations

from collections.abc import Callable

from event_contracts.contrib.sqlalchemy import SqlInbox
from event_contracts.service_defaults.unit_of_work import SqlAlchemyUnitOfWork as SqlUnitOfWork
from event_contracts.service_defaults.unit_of_work import session_factory
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from order_service.adapters import orm
from order_service.adapters.idempotency import SqlIdempotencyKeys, is_key_taken
from order_service.adapters.inserts import InsertBatch
from order_service.adapters.outbox import SqlOutbox
from order_service.adapters.repository import SqlOrderRepository
from order_service.service_layer.ports import AbstractUnitOfWork, IdempotencyKeyTaken

__all__ = ["SqlAlchemyUnitOfWork", "session_factory"]


class SqlAlchemyUnitOfWork(AbstractUnitOfWork, SqlUnitOfWork):
    """``next_order_id``: PostgreSQL's ids drawn from the sequence in blocks; None: the INSERT
    assigns them (SQLite)."""

    def __init__(
        self, session_factory: Callable[[], Session], next_order_id: Callable[[], int] | None = None
    ) -> None:
        super().__init__(session_factory)
        self.next_order_id = next_order_id

    def open(self, session: Session) -> None:
        self.inserts = InsertBatch(one_statement=session.get_bind().dialect.name == "postgresql")
        self.orders = SqlOrderRepository(session, self.inserts, self.next_order_id)
        self.idempotency_keys = SqlIdempotencyKeys(session, self.inserts)
        self.outbox = SqlOutbox(self.inserts, session)
        self.inbox = SqlInbox(session, orm.inbox)

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
