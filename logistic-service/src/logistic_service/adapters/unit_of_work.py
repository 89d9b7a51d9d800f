"""The unit of work over SQLAlchemy: one transaction around a handler's reads, effects and inbox.

``__enter__`` / ``__exit__`` (roll back, then close), commit and rollback come from
``event_contracts.service_defaults.unit_of_work``; this class only attaches the repositories.
"""

from __future__ import annotations

from event_contracts.contrib.sqlalchemy import SqlInbox
from event_contracts.service_defaults.unit_of_work import SqlAlchemyUnitOfWork as SqlUnitOfWork
from event_contracts.service_defaults.unit_of_work import session_factory
from sqlalchemy.orm import Session

from logistic_service.adapters import orm
from logistic_service.adapters.repository import SqlAlchemyShipmentRepository
from logistic_service.service_layer.ports import AbstractUnitOfWork

__all__ = ["SqlAlchemyUnitOfWork", "session_factory"]


class SqlAlchemyUnitOfWork(SqlUnitOfWork, AbstractUnitOfWork):
    def open(self, session: Session) -> None:
        self.shipments = SqlAlchemyShipmentRepository(session)
        self.inbox = SqlInbox(session, orm.inbox)
