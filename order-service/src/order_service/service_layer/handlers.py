"""Use cases: open the unit of work, load the aggregate, call the domain, commit."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import attrs
from event_contracts.service_defaults import metrics

from order_service.domain.errors import OrderNotFound
from order_service.domain.identity import Actor, Caller
from order_service.domain.model import Order, OrderLine
from order_service.service_layer import commands, views
from order_service.service_layer.ports import (
    AbstractUnitOfWork,
    IdempotencyKeyTaken,
    StoredResponse,
)

log = logging.getLogger(__name__)

CREATED = 201


@attrs.frozen
class Response:
    """What the API answers: the status and the JSON body (text, exactly as first sent)."""

    status: int
    body: str
    order_id: int
    replayed: bool = False


class IdempotencyKeyReused(Exception):  # noqa: N818 - reads as what happened
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"Idempotency-Key {key!r} was already used with a different request "
            "body; use a new key for a new order"
        )


def place_order(cmd: commands.PlaceOrder, uow: AbstractUnitOfWork) -> Response:
    """Store the order and its ``submit`` event (outbox) in one transaction; replay a known key."""
    try:
        return _place_order(cmd, uow)
    except IdempotencyKeyTaken:  # a concurrent request with this key committed first
        return _place_order(cmd, uow)


def _place_order(cmd: commands.PlaceOrder, uow: AbstractUnitOfWork) -> Response:
    with uow:
        uow.correlation_id, uow.actor = cmd.correlation_id, cmd.actor
        if cmd.idempotency_key and (seen := uow.idempotency_keys.get(cmd.idempotency_key)):
            return _replay(cmd.idempotency_key, seen, cmd.request_hash)
        lines = [OrderLine(line.line_id, line.quantity, line.unit_price) for line in cmd.lines]
        order = Order.place(customer_id=cmd.customer_id, currency=cmd.currency, lines=lines)
        uow.orders.add(order)
        response = Response(CREATED, json.dumps(views.order_view(order)), _id(order))
        if cmd.idempotency_key:
            uow.idempotency_keys.add(
                cmd.idempotency_key,
                StoredResponse(cmd.request_hash, _id(order), response.status, response.body),
            )
        uow.commit()
    log.info(
        "order %s placed by %s",
        response.order_id,
        _who(cmd.actor),
        extra={"order_id": str(response.order_id)},
    )
    return response


def _replay(key: str, seen: StoredResponse, request_hash: str) -> Response:
    if seen.request_hash != request_hash:
        raise IdempotencyKeyReused(key)
    return Response(seen.status, seen.body, seen.order_id, replayed=True)


def charge_back(cmd: commands.ChargeBack, uow: AbstractUnitOfWork) -> dict[str, Any]:
    """Record the chargeback and its ``chargeback`` event (outbox) in one transaction."""
    with uow:
        uow.correlation_id, uow.actor = cmd.correlation_id, cmd.actor
        order = uow.orders.get(cmd.order_id, for_update=True)
        if order is None:
            raise OrderNotFound(cmd.order_id)
        order.charge_back()
        uow.commit()
        view = views.order_view(order)
    log.info(
        "order %s charged back by %s",
        cmd.order_id,
        _who(cmd.actor),
        extra={"order_id": str(cmd.order_id)},
    )
    return view


def get_order(
    order_id: int, uow: AbstractUnitOfWork, reader: Caller | None = None
) -> dict[str, Any]:
    """The order; ``reader`` (when given) must be allowed to see it, else it does not exist."""
    with uow:
        order = uow.orders.get(order_id)
        if order is None or (reader is not None and not reader.may_read(order.customer_id)):
            raise OrderNotFound(order_id)
        return views.order_view(order, uow.outbox.parked(order_id))


def _who(actor: Actor | None) -> str:
    if actor is None:
        return "an unnamed caller"
    return f"{actor.subject} (token {actor.token_id or 'without jti'})"


FACTS: dict[commands.Fact, Callable[[Order], None]] = {
    commands.Fact.INVOICED: Order.mark_invoiced,
    commands.Fact.REFUNDED: Order.mark_refunded,
    commands.Fact.DISPATCHED: Order.mark_dispatched,
    commands.Fact.SHIPMENT_CANCELLED: Order.mark_shipment_cancelled,
    commands.Fact.SHIPMENT_RETURNED: Order.mark_shipment_returned,
}


def record_fact(cmd: commands.RecordFact, uow: AbstractUnitOfWork) -> bool:
    """Apply a fact once per event id (dedupe key and effect commit together); False: duplicate.

    The first dispatch of an order, once committed, is timed from the order's creation
    (``shop_order_placed_to_dispatched_seconds``): exactly one observation per dispatched order."""
    with uow:
        if not uow.inbox.admit(cmd.delivery):
            log.info(
                "order %s: %s already handled (%s); skipped",
                cmd.order_id,
                cmd.fact.value,
                cmd.delivery.dedupe_key,
            )
            return False
        order = uow.orders.get(cmd.order_id, for_update=True)
        if order is None:
            raise OrderNotFound(cmd.order_id)
        first_dispatch = cmd.fact is commands.Fact.DISPATCHED and not order.dispatched
        placed_at = order.created_at
        FACTS[cmd.fact](order)
        uow.commit()
    log.info("order %s: %s → %s", cmd.order_id, cmd.fact.value, order.status)
    if first_dispatch:
        metrics.observe_order_dispatched(placed_at, cmd.delivery.occurred_at)
    return True


def _id(order: Order) -> int:
    if order.id is None:  # pragma: no cover - the repository assigns it on add
        raise ValueError("order without id")
    return order.id
