"""Billing's use cases: an order event in, the ledger posted (once), the fact published.

Each handler opens the unit of work, asks the inbox whether this delivery is new, and only then
loads the order's invoice and calls the domain; it commits the effect together with the inbox
record, and only then publishes the fact::

    order.*.submit      ─▶ invoice_order ─▶ entry "invoice"  ─▶ billing.v1.invoiced
    order.*.chargeback  ─▶ refund_order  ─▶ entry "reversal" ─▶ billing.v1.refunded

Facts have deterministic ids (``uuid5("billing:<entry kind>:<order id>")``) and are built from
what the ledger holds, so a handler that finds its work already done (the same delivery again,
refused by the inbox, or another event about the same order) publishes the same fact again,
same id, same content: a crash between commit and publish loses nothing, and order-service's
inbox drops the duplicate.
"""

from __future__ import annotations

import logging

import event_contracts as contracts
from event_contracts import Delivery, Order
from event_contracts.serialization import CurrencyCode, Money

from billing_service.domain import Actor, EntryKind, Invoice
from billing_service.service_layer.ports import AbstractUnitOfWork, Clock, EventPublisher

log = logging.getLogger(__name__)


class UnknownOrderError(LookupError):
    """A chargeback of an order billing has not invoiced: retried (its submit may be in flight),
    then dead-lettered by the runtime."""


def invoice_order(
    order: Order,
    delivery: Delivery,
    *,
    uow: AbstractUnitOfWork,
    publisher: EventPublisher,
    clock: Clock,
) -> None:
    """Post the order's invoice unless it has one; publish ``billing.v1.invoiced``."""
    with uow:
        if uow.inbox.admit(delivery):
            invoice = _invoice_once(order, delivery, uow, clock)
            uow.commit()
        else:
            invoice = _handled_before(order, delivery, uow)
        fact = invoice_fact(invoice, EntryKind.INVOICE)
    publisher.publish(contracts.Invoice.invoiced, fact, correlation_id=delivery.correlation_id)


def refund_order(
    order: Order,
    delivery: Delivery,
    *,
    uow: AbstractUnitOfWork,
    publisher: EventPublisher,
    clock: Clock,
) -> None:
    """Post the reversal of the order's invoice unless it has one; publish ``refunded``."""
    with uow:
        if uow.inbox.admit(delivery):
            invoice = _refund_once(order, delivery, uow, clock)
            uow.commit()
        else:
            invoice = _handled_before(order, delivery, uow)
        fact = invoice_fact(invoice, EntryKind.REVERSAL)
    publisher.publish(contracts.Invoice.refunded, fact, correlation_id=delivery.correlation_id)


def invoice_fact(invoice: Invoice, kind: EntryKind) -> contracts.Invoice:
    """The fact about ``invoice``'s entry of ``kind``: identical every time it is built."""
    entry = invoice.entry(kind)
    return contracts.Invoice(
        event_id=entry.fact_id,
        invoice_id=invoice.invoice_id,
        order_id=invoice.order_id,
        customer_id=invoice.customer_id,
        currency=CurrencyCode(invoice.currency),
        amount=Money(invoice.amount),
        occurred_at=entry.created_at,
        caused_by=entry.event_id,
    )


def _invoice_once(
    order: Order, delivery: Delivery, uow: AbstractUnitOfWork, clock: Clock
) -> Invoice:
    invoice = uow.invoices.get(order.id)
    if invoice is not None:
        _log_already_invoiced(invoice, order)
        return invoice
    invoice = Invoice.issue(
        order_id=order.id,
        customer_id=order.customer_id,
        currency=order.currency,
        amount=order.total,
        caused_by=order.event_id,
        at=clock(),
        actor=Actor.from_headers(delivery.headers),
    )
    uow.invoices.add(invoice)
    return invoice


def _refund_once(
    order: Order, delivery: Delivery, uow: AbstractUnitOfWork, clock: Clock
) -> Invoice:
    invoice = uow.invoices.get(order.id)
    if invoice is None:
        raise UnknownOrderError(f"chargeback of order {order.id}: billing has no invoice")
    actor = Actor.from_headers(delivery.headers)
    if invoice.refund(caused_by=order.event_id, at=clock(), actor=actor):
        log.info("order %s refunded: charged back by %s", order.id, actor or "nobody named")
    else:
        log.info(
            "order %s was already refunded; posting nothing for event %s", order.id, order.event_id
        )
    return invoice


def _handled_before(order: Order, delivery: Delivery, uow: AbstractUnitOfWork) -> Invoice:
    """The invoice this delivery's first run committed (its fact is published again)."""
    log.info("%s delivered again: nothing to post, re-publishing the fact", delivery.dedupe_key)
    invoice = uow.invoices.get(order.id, lock=False)
    if invoice is None:  # pragma: no cover - the first run committed it with the inbox record
        raise UnknownOrderError(f"order {order.id}: handled before, but billing has no invoice")
    return invoice


def _log_already_invoiced(invoice: Invoice, order: Order) -> None:
    entry = invoice.entry(EntryKind.INVOICE)
    if entry.event_id == order.event_id:
        return
    if (invoice.currency, invoice.amount) != (order.currency, order.total):
        log.warning(
            "order %s submitted again (event %s) as %s %s, but invoiced as %s %s "
            "(event %s); the invoice stands",
            order.id,
            order.event_id,
            order.currency,
            order.total,
            invoice.currency,
            invoice.amount,
            entry.event_id,
        )
    else:
        log.info(
            "order %s already invoiced (event %s); posting nothing for event %s",
            order.id,
            entry.event_id,
            order.event_id,
        )
