"""The ledger's rules, on the domain objects alone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import NAMESPACE_URL, uuid4, uuid5

import pytest

from billing_service.domain import (
    Account,
    AmountOutOfRangeError,
    Balance,
    EntryKind,
    Invoice,
    InvoiceStatus,
    JournalEntry,
    Posting,
    UnbalancedEntryError,
    fact_id,
    headline_balance,
)

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)


def an_invoice(amount: str = "9.00", order_id: int = 7) -> Invoice:
    return Invoice.issue(
        order_id=order_id,
        customer_id="c-1",
        currency="EUR",
        amount=Decimal(amount),
        caused_by=uuid4(),
        at=T0,
    )


def lines(entry: JournalEntry) -> list[tuple[str, Decimal, Decimal]]:
    return [(p.account.value, p.debit, p.credit) for p in entry.postings]


def test_issuing_posts_the_total_as_receivable_and_revenue() -> None:
    cause = uuid4()
    invoice = Invoice.issue(
        order_id=7,
        customer_id="c-1",
        currency="USD",
        amount=Decimal("12.5"),
        caused_by=cause,
        at=T0,
    )

    assert (invoice.invoice_id, invoice.status, invoice.amount) == (
        "INV-7",
        InvoiceStatus.INVOICED,
        Decimal("12.5000"),
    )
    (entry,) = invoice.entries
    assert (entry.kind, entry.currency, entry.event_id, entry.created_at) == (
        EntryKind.INVOICE,
        "USD",
        cause,
        T0,
    )
    assert lines(entry) == [("receivable", Decimal("12.5"), 0), ("revenue", 0, Decimal("12.5"))]
    assert entry.debits == entry.credits == Decimal("12.5")


def test_refund_posts_the_reversal_once() -> None:
    invoice = an_invoice("9.00")
    cause = uuid4()

    assert invoice.refund(caused_by=cause, at=T1) is True
    assert invoice.refund(caused_by=uuid4(), at=T1) is False

    assert invoice.status == InvoiceStatus.REFUNDED and invoice.updated_at == T1
    assert [e.kind for e in invoice.entries] == [EntryKind.INVOICE, EntryKind.REVERSAL]
    reversal = invoice.entry(EntryKind.REVERSAL)
    assert reversal.event_id == cause
    assert lines(reversal) == [("revenue", Decimal("9"), 0), ("receivable", 0, Decimal("9"))]


def test_an_unrefunded_invoice_has_no_reversal() -> None:
    with pytest.raises(LookupError, match="no reversal entry"):
        an_invoice().entry(EntryKind.REVERSAL)


def test_an_entry_that_does_not_balance_is_refused() -> None:
    with pytest.raises(UnbalancedEntryError, match="does not balance"):
        JournalEntry(
            order_id=1,
            kind=EntryKind.INVOICE,
            currency="EUR",
            event_id=uuid4(),
            created_at=T0,
            postings=[
                Posting(Account.RECEIVABLE, debit=Decimal("2")),
                Posting(Account.REVENUE, credit=Decimal("1.99")),
            ],
        )


def test_an_entry_needs_two_postings() -> None:
    with pytest.raises(UnbalancedEntryError, match="at least two"):
        JournalEntry(
            order_id=1,
            kind=EntryKind.INVOICE,
            currency="EUR",
            event_id=uuid4(),
            created_at=T0,
            postings=[Posting(Account.RECEIVABLE)],
        )


def test_a_posting_is_on_one_side_only() -> None:
    with pytest.raises(UnbalancedEntryError, match="not both"):
        Posting(Account.RECEIVABLE, debit=Decimal("1"), credit=Decimal("1"))


@pytest.mark.parametrize(
    ("amount", "problem"),
    [
        ("-0.01", "non-negative"),
        ("1.00001", "more than four decimal places"),
        ("1000000000000", "not below"),
        ("NaN", "finite"),
    ],
)
def test_amounts_the_ledger_refuses(amount: str, problem: str) -> None:
    with pytest.raises(AmountOutOfRangeError, match=problem):
        an_invoice(amount)


def test_the_largest_amount_is_kept_exactly() -> None:
    assert an_invoice("999999999999.9999").amount == Decimal("999999999999.9999")


def test_a_free_order_is_invoiced_at_zero() -> None:
    (entry,) = an_invoice("0").entries
    assert entry.debits == entry.credits == 0


def test_fact_ids_are_deterministic_per_entry_kind_and_order() -> None:
    assert fact_id(EntryKind.INVOICE, 42) == uuid5(NAMESPACE_URL, "billing:invoice:42")
    assert fact_id(EntryKind.REVERSAL, 42) == uuid5(NAMESPACE_URL, "billing:reversal:42")
    assert (
        len(
            {
                fact_id(EntryKind.INVOICE, 42),
                fact_id(EntryKind.REVERSAL, 42),
                fact_id(EntryKind.INVOICE, 43),
            }
        )
        == 3
    )
    invoice = an_invoice(order_id=42)
    assert invoice.entry(EntryKind.INVOICE).fact_id == fact_id(EntryKind.INVOICE, 42)


def test_headline_balance_is_eur_zero_without_postings() -> None:
    headline = headline_balance(Account.REVENUE, [])
    assert (headline.currency, headline.debits, headline.credits, headline.balance) == (
        "EUR",
        Decimal(0),
        Decimal(0),
        Decimal(0),
    )


def test_headline_balance_takes_the_currency_with_most_postings_then_the_first_code() -> None:
    usd = Balance(Account.REVENUE, "USD", Decimal(0), Decimal(30), postings=3)
    eur = Balance(Account.REVENUE, "EUR", Decimal(5), Decimal(10), postings=2)
    chf = Balance(Account.REVENUE, "CHF", Decimal(0), Decimal(1), postings=3)

    assert headline_balance(Account.REVENUE, [eur, usd]) is usd
    assert headline_balance(Account.REVENUE, [eur, usd, chf]) is chf
    assert eur.balance == Decimal(-5)
