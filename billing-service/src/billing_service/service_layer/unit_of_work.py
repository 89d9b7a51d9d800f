"""The unit of work: one database transaction holding an event's effects and its inbox record."""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import TracebackType
from typing import Self

from event_contracts import Inbox
from event_contracts.contrib.sqlalchemy import SqlInbox
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from billing_service.adapters import orm
from billing_service.adapters.repository import (
    AbstractInvoiceRepository,
    SqlAlchemyInvoiceRepository,
)


class AbstractUnitOfWork(abc.ABC):
    """``with uow: ...; uow.commit()``: leaving the block without committing rolls back."""

    invoices: AbstractInvoiceRepository
    inbox: Inbox

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory

    def __enter__(self) -> Self:
        self.session = self.session_factory()
        self.invoices = SqlAlchemyInvoiceRepository(self.session)
        self.inbox = SqlInbox(self.session, orm.inbox)
        return super().__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (facts are built from them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
