"""The unit-of-work base every service's unit of work extends: one ``__exit__`` for all.

``with uow: ...; uow.commit()``: leaving the block without committing rolls back (a no-op after
``commit``), then the unit of work is closed. An event's effect and its inbox record live in
the same transaction, so both commit or neither does.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


class AbstractUnitOfWork(abc.ABC):
    """A service's port (``service_layer/ports.py``) subclasses it and names its repositories."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self.close()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    def close(self) -> None:  # noqa: B027 (optional hook: fakes have nothing to release)
        """Release what ``__enter__`` took (a session)."""


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    """A session per ``with`` block; a service's subclass builds its repositories in :meth:`open`."""

    session: Session

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self.session_factory = session_factory

    def __enter__(self) -> Self:
        self.session = self.session_factory()
        self.open(self.session)
        return super().__enter__()

    @abc.abstractmethod
    def open(self, session: Session) -> None:
        """Attach the repositories (and the inbox) to this block's session."""

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def close(self) -> None:
        self.session.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (facts are built from them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
