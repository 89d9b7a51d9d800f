"""The unit of work over SQLAlchemy: one transaction for an event's effects and its inbox record.

``__enter__`` / ``__exit__`` (roll back, then close), commit and rollback come from
``event_contracts.service_defaults.unit_of_work``; this class only attaches the repositories.
"""

from __future__ import annotations

from event_contracts.contrib.sqlalchemy import SqlInbox
from event_contracts.service_defaults.unit_of_work import SqlAlchemyUnitOfWork as SqlUnitOfWork
from event_contracts.service_defaults.unit_of_work import session_factory
from sqlalchemy.orm import Session

from billing_service.adapters import orm
from billing_service.adapters.repository import SqlAlchemyInvoiceRepository
from billing_service.service_layer.ports import AbstractUnitOfWork

__all__ = ["SqlAlchemyUnitOfWork", "session_factory"]


class SqlAlchemyUnitOfWork(SqlUnitOfWork, AbstractUnitOfWork):
    def open(self, session: Session) -> None:
        self.invoices = SqlAlchemyInvoiceRepository(session)
        self.inbox = SqlInbox(session, orm.inbox)
