"""The ports logistic's use cases need; adapters implement them, tests/fakes.py fakes them."""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from event_contracts import Event, Inbox
from event_contracts.service_defaults.unit_of_work import AbstractUnitOfWork as BaseUnitOfWork

from logistic_service.domain.model import Shipment

Clock = Callable[[], datetime]
"""Now, as an aware UTC datetime."""


class EventPublisher(Protocol):
    """:class:`event_contracts.Publisher` in the worker, ``InMemoryBus`` in unit tests."""

    def publish(
        self,
        event: Event[Any],
        message: Any,
        *,
        correlation_id: str | None = None,
        headers: Any = None,
    ) -> UUID: ...


class AbstractShipmentRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, shipment: Shipment) -> None: ...

    @abc.abstractmethod
    def get(self, shipment_id: str) -> Shipment | None:
        """The shipment, locked for the rest of the transaction (where the store can)."""

    @abc.abstractmethod
    def stuck(self, idle_since: datetime, limit: int) -> list[Shipment]:
        """Up to ``limit`` shipments for which :meth:`Shipment.is_stuck` holds, oldest first."""


class AbstractPipeline(abc.ABC):
    @abc.abstractmethod
    def start(self, shipment_id: str, correlation_id: str | None = None) -> None:
        """Start (or start again) the warehouse steps of a committed shipment."""


class AbstractUnitOfWork(BaseUnitOfWork):
    """One transaction around a handler's reads, effects and inbox record.

    ``with uow: ...; uow.commit()``: leaving the block rolls back what was not committed, then
    closes; after ``commit`` the loaded objects stay readable (sessions do not expire on commit).
    """

    shipments: AbstractShipmentRepository
    inbox: Inbox
