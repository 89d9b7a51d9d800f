"""The unit of work: one transaction around a handler's reads, effects and inbox record."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, Self

from event_contracts import Inbox
from event_contracts.contrib.sqlalchemy import SqlInbox
from sqlalchemy.orm import Session

from logistic_service.adapters import orm
from logistic_service.adapters.repository import (
    AbstractShipmentRepository,
    SqlAlchemyShipmentRepository,
)


class AbstractUnitOfWork(abc.ABC):
    shipments: AbstractShipmentRepository
    inbox: Inbox

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *args: Any) -> None:
        self.rollback()  # after a commit there is nothing left to roll back

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory

    def __enter__(self) -> Self:
        self.session = self.session_factory()
        self.shipments = SqlAlchemyShipmentRepository(self.session)
        self.inbox = SqlInbox(self.session, orm.inbox)
        return super().__enter__()

    def __exit__(self, *args: Any) -> None:
        # Closing rolls back what was not committed and detaches the loaded objects as they
        # are (a rollback would expire them), so a handler can still read what it committed.
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
