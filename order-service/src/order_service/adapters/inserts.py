"""Rows a unit of work writes when it commits, sent to PostgreSQL as ONE statement.

A new order is four INSERTs (the order, its lines, its idempotency key, its outbox event). Sent
one by one inside ``BEGIN ... COMMIT`` that is six round trips, each a SQLAlchemy execute and a
wait in the driver: on the edge's hottest path (``python -m bench``, edge phase) they cost more
CPU than the rest of the request. On PostgreSQL the batch is one ``INSERT`` whose other INSERTs
are data-modifying CTEs: a single statement is atomic on its own, so when nothing was read
before it needs no ``BEGIN``/``COMMIT`` either (one round trip). Foreign keys are checked at the
end of the statement, when every row of the batch exists. SQLite has no DML in CTEs: there the
rows are inserted one table after another inside the transaction.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Insert, Table, bindparam, insert
from sqlalchemy.orm import Session


class InsertBatch:
    """Rows per table, written in the order their tables were first added (parents first)."""

    def __init__(self, *, one_statement: bool) -> None:
        self.one_statement = one_statement
        self._rows: dict[Table, list[dict[str, Any]]] = {}

    def add(self, table: Table, *rows: dict[str, Any]) -> None:
        self._rows.setdefault(table, []).extend(rows)

    def __bool__(self) -> bool:
        return bool(self._rows)

    def clear(self) -> None:
        self._rows.clear()

    def write(self, session: Session) -> None:
        """Insert every row in ``session`` (its transaction, or autocommit), then forget them."""
        if self.one_statement:
            session.execute(*self.statement())
        else:
            for table, rows in self._rows.items():
                session.execute(insert(table), rows)
        self.clear()

    def statement(self) -> tuple[Insert, dict[str, Any]]:
        """``WITH t1 AS (INSERT ...), ... INSERT INTO tN ...`` and its parameters (PostgreSQL).

        The statement depends only on the batch's shape (tables, row counts, columns), so it is
        built once per shape and SQLAlchemy's compiled cache serves it from then on; literal
        ``.values(rows)`` would be compiled again for every order.
        """
        shape = tuple((table, len(rows), tuple(rows[0])) for table, rows in self._rows.items())
        parameters = {
            _name(table, index, column): value
            for table, rows in self._rows.items()
            for index, row in enumerate(rows)
            for column, value in row.items()
        }
        return _statement(shape), parameters


def _name(table: Table, index: int, column: str) -> str:
    return f"{table.name}_{index}_{column}"


@functools.lru_cache(maxsize=256)
def _statement(shape: tuple[tuple[Table, int, tuple[str, ...]], ...]) -> Insert:
    # One single-row INSERT per row: SQLAlchemy caches those, not a multi-row VALUES.
    *first, last = (
        insert(table).values(
            {
                column: bindparam(_name(table, index, column), type_=table.c[column].type)
                for column in columns
            }
        )
        for table, count, columns in shape
        for index in range(count)
    )
    return last.add_cte(*(statement.cte(f"row_{number}") for number, statement in enumerate(first)))
