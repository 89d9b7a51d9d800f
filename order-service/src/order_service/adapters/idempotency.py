"""Idempotency keys of ``POST /orders``: the first response to a key, stored with the order."""

from __future__ import annotations

import abc

import attrs
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from order_service.adapters import orm


@attrs.frozen
class StoredResponse:
    request_hash: str
    order_id: int
    status: int
    body: str
    """The response body exactly as first sent (JSON text)."""


class IdempotencyKeyTaken(Exception):  # noqa: N818 - the key is taken, by a concurrent request
    """Another request with the same key committed first: replay its response."""


class AbstractIdempotencyKeys(abc.ABC):
    @abc.abstractmethod
    def get(self, key: str) -> StoredResponse | None: ...

    @abc.abstractmethod
    def add(self, key: str, response: StoredResponse) -> None:
        """Remember ``response`` for ``key``; :class:`IdempotencyKeyTaken` if already there."""


class SqlIdempotencyKeys(AbstractIdempotencyKeys):
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> StoredResponse | None:
        table = orm.idempotency_keys
        row = self.session.execute(
            select(table.c.request_hash, table.c.order_id, table.c.response_status,
                   table.c.response_body).where(table.c.key == key)
        ).first()
        return None if row is None else StoredResponse(*row)

    def add(self, key: str, response: StoredResponse) -> None:
        statement = insert(orm.idempotency_keys).values(
            key=key, request_hash=response.request_hash, order_id=response.order_id,
            response_status=response.status, response_body=response.body,
        )
        try:
            self.session.execute(statement)
        except IntegrityError as exc:  # the transaction is now failed: the caller starts over
            raise IdempotencyKeyTaken(key) from exc
