"""The Order repository: the aggregate in, the aggregate out, nothing else."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from order_service.adapters import orm
from order_service.adapters.inserts import InsertBatch
from order_service.domain.model import Order
from order_service.service_layer.ports import AbstractOrderRepository

_ORDER_COLUMNS = tuple(c.key for c in orm.orders.c if c.key != "id")
_LINE_COLUMNS = tuple(c.key for c in orm.order_lines.c if c.key != "order_id")
_INSERT_ORDER = insert(orm.orders).returning(orm.orders.c.id)


class SqlOrderRepository(AbstractOrderRepository):
    def __init__(
        self, session: Session, inserts: InsertBatch, next_id: Callable[[], int] | None = None
    ) -> None:
        super().__init__()
        self.session = session
        self.inserts = inserts
        self.next_id = next_id

    def _add(self, order: Order) -> None:
        """Queue the order's rows for the unit of work's commit (Core rows, not ``session.add``).

        A new order is written once and never read back in the same request: the ORM's unit
        of work (flush planning, identity map, attribute history) cost more CPU than the
        inserts themselves on the edge's hottest path. With ``next_id`` (PostgreSQL: a block of
        the sequence) the id is known now and the order is written with its lines and events in
        one statement at commit; without it (SQLite) the order's INSERT assigns it here.
        Loaded orders (facts, chargebacks) still go through the ORM mapping.
        """
        row = {column: getattr(order, column) for column in _ORDER_COLUMNS}
        if self.next_id is not None:
            order.id = self.next_id()
            self.inserts.add(orm.orders, {"id": order.id, **row})
        else:
            order.id = self.session.execute(_INSERT_ORDER, row).scalar_one()
        self.inserts.add(
            orm.order_lines,
            *(
                {
                    "order_id": order.id,
                    **{column: getattr(line, column) for column in _LINE_COLUMNS},
                }
                for line in order.lines
            ),
        )

    def _get(self, order_id: int, *, for_update: bool) -> Order | None:
        query = select(Order).where(Order.id == order_id)  # type: ignore[arg-type]
        if for_update:
            # Two facts about one order handled at once must not both derive the status from a
            # stale row (PostgreSQL: row lock; SQLite serialises writers with BEGIN IMMEDIATE).
            query = query.with_for_update()
        return self.session.execute(query).scalar_one_or_none()
