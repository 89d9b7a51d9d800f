"""The Order repository: the aggregate in, the aggregate out, nothing else."""

from __future__ import annotations

import abc

from sqlalchemy import select
from sqlalchemy.orm import Session

from order_service.domain.model import Order


class AbstractOrderRepository(abc.ABC):
    def __init__(self) -> None:
        self.seen: list[Order] = []

    def add(self, order: Order) -> None:
        """Store a new order; it has its database id when this returns."""
        self._add(order)
        self.seen.append(order)

    def get(self, order_id: int, *, for_update: bool = False) -> Order | None:
        """The order, or None; ``for_update`` locks its row until the transaction ends."""
        order = self._get(order_id, for_update=for_update)
        if order is not None and order not in self.seen:
            self.seen.append(order)
        return order

    @abc.abstractmethod
    def _add(self, order: Order) -> None: ...

    @abc.abstractmethod
    def _get(self, order_id: int, *, for_update: bool) -> Order | None: ...


class SqlOrderRepository(AbstractOrderRepository):
    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def _add(self, order: Order) -> None:
        self.session.add(order)
        self.session.flush()  # INSERT ... RETURNING id: for the events and the response

    def _get(self, order_id: int, *, for_update: bool) -> Order | None:
        query = select(Order).where(Order.id == order_id)  # type: ignore[arg-type]
        if for_update:
            # Two facts about one order handled at once must not both derive the status from a
            # stale row (PostgreSQL: row lock; SQLite serialises writers with BEGIN IMMEDIATE).
            query = query.with_for_update()
        return self.session.execute(query).scalar_one_or_none()
