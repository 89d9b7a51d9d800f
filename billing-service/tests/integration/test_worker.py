"""billing-service's real worker on a real broker and its real database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from celery import Celery
from event_contracts import (
    GET_BALANCE,
    GET_INVOICE,
    BalanceQuery,
    InvoiceQuery,
    Order,
    Publisher,
    RemoteCallError,
    RpcClient,
    create_app,
)
from event_contracts.testing import TestVhost, drain, publish_seed_v1, queue_depth, wait_until
from sqlalchemy import Engine, select

from billing_service.adapters.orm import journal_entries
from billing_service.bootstrap import Billing
from billing_service.domain import EntryKind, InvoiceStatus, fact_id

from .conftest import again, an_order, unique_order_id

pytestmark = pytest.mark.integration

Worker = tuple[Celery, Billing]


def facts(vhost: TestVhost, expect: int) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """What billing published, as order-service receives it: (routing key, headers, payload)."""
    out = []
    for message in drain(vhost.url(), "order.billing", expect=expect, timeout=15):
        _, kwargs, _ = message.decode()
        out.append((message.delivery_info["routing_key"], message.headers, kwargs["instance"]))
    return out


def invoiced(billing: Billing, order_id: int, status: str = "invoiced") -> bool:
    try:
        return billing.invoice(order_id).status == status
    except LookupError:
        return False


def test_submit_posts_the_invoice_and_publishes_invoiced(
    vhost: TestVhost, worker: Worker, order_service: Publisher
) -> None:
    _, billing = worker
    order = an_order(unit_price="4.50", quantity=2, currency="USD")

    order.submit(publisher=order_service, correlation_id="corr-42")

    ((key, headers, payload),) = facts(vhost, expect=1)
    assert key == "billing.v1.invoiced"
    assert headers["event-id"] == payload["event_id"] == str(fact_id(EntryKind.INVOICE, order.id))
    assert headers["correlation-id"] == "corr-42"
    assert payload["invoice_id"] == f"INV-{order.id}"
    assert payload["caused_by"] == str(order.event_id)
    assert Decimal(payload["amount"]) == Decimal("9.00") and payload["currency"] == "USD"
    view = billing.invoice(order.id)
    assert (view.amount, view.status) == (Decimal("9.00"), InvoiceStatus.INVOICED)


def test_the_same_event_delivered_twice_posts_once(
    vhost: TestVhost, worker: Worker, order_service: Publisher
) -> None:
    _, billing = worker
    order = an_order(unit_price="1.00", quantity=3)

    order.submit(publisher=order_service)
    order.submit(publisher=order_service)  # the same event id again

    first, second = facts(vhost, expect=2)
    assert first[2] == second[2]  # re-published, same id and content
    uow = billing.uow()
    with uow:
        invoice = uow.invoices.get(order.id, lock=False)
        assert invoice is not None and [e.kind for e in invoice.entries] == [EntryKind.INVOICE]
    assert billing.balance("receivable").debits >= Decimal("3.00")


def test_chargeback_posts_the_reversal_and_publishes_refunded(
    vhost: TestVhost, worker: Worker, order_service: Publisher, engine: Engine
) -> None:
    _, billing = worker
    order = an_order(unit_price="7.25", quantity=1)
    chargeback = again(order)

    order.submit(publisher=order_service)
    wait_until(lambda: invoiced(billing, order.id), timeout=15, what="the invoice")
    who = {"actor-subject": "agent-7", "actor-token-id": "jti-42"}
    order_service.publish(Order.chargeback, chargeback, headers=who)

    (_, _, invoice_fact), (key, _, refund) = facts(vhost, expect=2)
    assert key == "billing.v1.refunded"
    assert refund["event_id"] == str(fact_id(EntryKind.REVERSAL, order.id))
    assert refund["caused_by"] == str(chargeback.event_id)
    assert refund["amount"] == invoice_fact["amount"]
    assert billing.invoice(order.id).status == InvoiceStatus.REFUNDED
    with engine.connect() as connection:
        entries = connection.execute(
            select(
                journal_entries.c.kind,
                journal_entries.c.actor_subject,
                journal_entries.c.actor_token_id,
            )
            .where(journal_entries.c.order_id == order.id)
            .order_by(journal_entries.c.id)
        ).all()
    # the ledger records who charged back (the submit was published without a caller)
    assert [tuple(entry) for entry in entries] == [
        ("invoice", None, None),
        ("reversal", "agent-7", "jti-42"),
    ]


def test_a_seed_shaped_v1_message_reaches_the_ledger(vhost: TestVhost, worker: Worker) -> None:
    _, billing = worker
    order_id = unique_order_id()
    task_id = publish_seed_v1(vhost.url("order-service"), order_id)

    ((_, _, payload),) = facts(vhost, expect=1)
    assert payload["caused_by"] == task_id
    view = billing.invoice(order_id)
    assert (view.amount, view.currency, view.customer_id) == (Decimal("10.50"), "EUR", "unknown")


def test_chargeback_of_an_order_billing_never_saw_is_retried_then_dead_lettered(
    vhost: TestVhost, worker: Worker, order_service: Publisher
) -> None:
    an_order().chargeback(publisher=order_service)

    (letter,) = drain(vhost.url(), "billing.order.dlq", expect=1, timeout=20)

    assert letter.headers["x-dead-letter-reason"] == "retries-exhausted"
    assert "billing has no invoice" in letter.headers["x-dead-letter-detail"]
    assert queue_depth(vhost.url(), "order.billing") == 0


def test_an_amount_the_ledger_refuses_is_dead_lettered_at_once(
    vhost: TestVhost, worker: Worker, order_service: Publisher
) -> None:
    _, billing = worker
    order = an_order(unit_price="999999999999.9999", quantity=2)

    order.submit(publisher=order_service)

    (letter,) = drain(vhost.url(), "billing.order.dlq", expect=1, timeout=15)
    assert letter.headers["x-dead-letter-reason"] == "rejected-by-handler"
    assert "not below" in letter.headers["x-dead-letter-detail"]
    assert letter.headers["retries"] == 0
    with pytest.raises(LookupError):
        billing.invoice(order.id)


def test_get_invoice_and_get_balance_over_rpc(
    vhost: TestVhost, worker: Worker, order_service: Publisher
) -> None:
    _, billing = worker
    client = RpcClient(create_app("order", broker_urls=[vhost.url("order-service")]), timeout=5)
    order = an_order(unit_price="2.00", quantity=5, currency="CHF")
    order.submit(publisher=order_service)
    wait_until(lambda: invoiced(billing, order.id), timeout=15, what="the invoice")

    view = client.call(GET_INVOICE, InvoiceQuery(order_id=order.id))
    revenue = client.call(GET_BALANCE, BalanceQuery(account="revenue"))

    assert (view.invoice_id, view.amount, view.currency, view.status) == (
        f"INV-{order.id}",
        Decimal("10.00"),
        "CHF",
        "invoiced",
    )
    assert revenue == billing.balance("revenue")  # what the ledger says, over the wire
    assert Decimal(revenue.balance) == revenue.debits - revenue.credits
    # a fresh ledger (SQLite file, or PostgreSQL emptied first): this order is all there is
    assert (revenue.currency, revenue.credits, revenue.balance) == (
        "CHF",
        Decimal("10.00"),
        "-10.0000",
    )
    with pytest.raises(RemoteCallError, match="not-found"):
        client.call(GET_INVOICE, InvoiceQuery(order_id=unique_order_id()))
    with pytest.raises(RemoteCallError, match="not-found"):
        client.call(GET_BALANCE, BalanceQuery(account="cash"))
