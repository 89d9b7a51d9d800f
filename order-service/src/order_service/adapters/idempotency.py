"""Idempotency keys of ``POST /orders``: the first response to a key, stored with the order."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from order_service.adapters import orm
from order_service.adapters.inserts import InsertBatch
from order_service.service_layer.ports import AbstractIdempotencyKeys, StoredResponse


class SqlIdempotencyKeys(AbstractIdempotencyKeys):
    """Read at once; the new key joins the unit of work's insert batch (written with the order)."""

    def __init__(self, session: Session, inserts: InsertBatch) -> None:
        self.session = session
        self.inserts = inserts

    def get(self, key: str) -> StoredResponse | None:
        table = orm.idempotency_keys
        row = self.session.execute(
            select(
                table.c.request_hash,
                table.c.order_id,
                table.c.response_status,
                table.c.response_body,
            ).where(table.c.key == key)
        ).first()
        return None if row is None else StoredResponse(*row)

    def add(self, key: str, response: StoredResponse) -> None:
        self.inserts.add(
            orm.idempotency_keys,
            {
                "key": key,
                "request_hash": response.request_hash,
                "order_id": response.order_id,
                "response_status": response.status,
                "response_body": response.body,
            },
        )


def is_key_taken(error: IntegrityError) -> bool:
    """Whether ``error`` is a second row for an idempotency key (PostgreSQL or SQLite words)."""
    constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    if constraint is not None:
        return bool(constraint == "pk_idempotency_keys")
    return "idempotency_keys.key" in str(error.orig)
