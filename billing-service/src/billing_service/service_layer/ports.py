"""The ports billing's use cases need; adapters implement them, tests fake them (tests/fakes.py)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from event_contracts import Event, Inbox
from event_contracts.service_defaults.unit_of_work import AbstractUnitOfWork as BaseUnitOfWork

from billing_service.domain import Account, Balance, Invoice

Clock = Callable[[], datetime]


class EventPublisher(Protocol):
    """Publishes a contract event (``event_contracts.Publisher``, or ``InMemoryBus`` in tests)."""

    def publish(
        self, event: Event[Any], message: Any, *, correlation_id: str | None = None
    ) -> UUID: ...


class AbstractInvoiceRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, invoice: Invoice) -> None: ...

    @abc.abstractmethod
    def get(self, order_id: int, *, lock: bool = True) -> Invoice | None:
        """The order's invoice with its entries; ``lock``: for update (other writers wait)."""

    @abc.abstractmethod
    def balances(self, account: Account) -> list[Balance]:
        """The account's totals, one per currency it has postings in."""


class AbstractUnitOfWork(BaseUnitOfWork):
    """``with uow: ...; uow.commit()``: leaving the block without committing rolls back.

    One database transaction holds an event's effects and its inbox record.
    """

    invoices: AbstractInvoiceRepository
    inbox: Inbox
