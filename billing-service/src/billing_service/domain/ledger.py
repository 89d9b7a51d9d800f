"""The general ledger: invoices posted as balanced journal entries (double entry).

One aggregate, :class:`Invoice`: an order's invoice together with the journal entries posted
for it. It is the consistency boundary: everything billing does to an order (post its invoice,
post the reversal of a chargeback) changes exactly one ``Invoice`` in one transaction, so the
rules below hold without looking at any other order::

    order submitted    ─▶ Invoice.issue(...)   entry "invoice":   Dr receivable  Cr revenue
    order charged back ─▶ invoice.refund(...)  entry "reversal":  Dr revenue     Cr receivable

Rules (each enforced here, and again by the database's constraints):

* every :class:`JournalEntry` balances on its own: its debits equal its credits, in one
  currency, and each :class:`Posting` is on one side only;
* an order is invoiced at most once and reversed at most once: asking again is not an error,
  it changes nothing (``issue`` is only called when the order has no invoice; ``refund``
  returns False the second time);
* amounts are exact decimals with at most four places, non-negative, and below the contract's
  money limit (12 integer digits).

Hence, for any sequence of events, the ledger's debits equal its credits per currency
(tests/unit/test_ledger_invariant.py checks it with hypothesis).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

MONEY_PLACES = Decimal("0.0001")
MONEY_LIMIT = Decimal(10) ** 12
"""Amounts must stay below this: the contracts' ``Money`` has at most 12 integer digits."""
ZERO = Decimal("0.0000")


class Account(enum.StrEnum):
    """The chart of accounts billing posts to."""

    RECEIVABLE = "receivable"
    """What customers owe the shop (an asset: debit increases it)."""
    REVENUE = "revenue"
    """What the shop earned (income: credit increases it)."""


class EntryKind(enum.StrEnum):
    INVOICE = "invoice"
    REVERSAL = "reversal"


class InvoiceStatus(enum.StrEnum):
    INVOICED = "invoiced"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class Actor:
    """Who caused an order event at the edge: headers ``actor-subject``, ``actor-token-id``."""

    subject: str
    token_id: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, Any]) -> Actor | None:
        subject, token_id = headers.get("actor-subject"), headers.get("actor-token-id")
        if not isinstance(subject, str) or not subject:
            return None
        return cls(subject[:255], token_id[:255] if isinstance(token_id, str) else None)


class LedgerError(ValueError):
    """A request the ledger refuses: retrying it cannot make it valid."""


class UnbalancedEntryError(LedgerError):
    pass


class AmountOutOfRangeError(LedgerError):
    pass


def money(amount: Decimal) -> Decimal:
    """``amount`` as ledger money: four places, exact (refuses rounding), in range."""
    if not amount.is_finite() or amount < 0:
        raise AmountOutOfRangeError(f"amount must be a finite, non-negative decimal, got {amount}")
    exact = amount.quantize(MONEY_PLACES)
    if exact != amount:
        raise AmountOutOfRangeError(f"amount {amount} has more than four decimal places")
    if exact >= MONEY_LIMIT:
        raise AmountOutOfRangeError(f"amount {amount} is not below {MONEY_LIMIT:,}")
    return exact


def fact_id(kind: EntryKind, order_id: int) -> UUID:
    """The event id of the fact billing publishes for an entry: the same on every re-publish."""
    return uuid5(NAMESPACE_URL, f"billing:{kind}:{order_id}")


@dataclass(eq=False)
class Posting:
    """One line of a journal entry: an amount on the debit or the credit side of an account."""

    account: Account
    debit: Decimal = ZERO
    credit: Decimal = ZERO

    def __post_init__(self) -> None:
        self.debit, self.credit = money(self.debit), money(self.credit)
        if self.debit and self.credit:
            raise UnbalancedEntryError(f"a posting is a debit or a credit, not both: {self}")


@dataclass(eq=False)
class JournalEntry:
    """A balanced set of postings in one currency, caused by one order event."""

    order_id: int
    kind: EntryKind
    currency: str
    event_id: UUID
    """The id of the order event that caused this entry."""
    created_at: datetime
    postings: list[Posting] = field(default_factory=list)
    actor_subject: str | None = None
    """Who caused it at the edge (the caller's token subject), when somebody did."""
    actor_token_id: str | None = None
    """That caller's token id (``jti``): which login/session, for an audit; never the token."""

    def __post_init__(self) -> None:
        self.check_balanced()

    @classmethod
    def transfer(
        cls,
        *,
        order_id: int,
        kind: EntryKind,
        currency: str,
        amount: Decimal,
        debit: Account,
        credit: Account,
        caused_by: UUID,
        at: datetime,
        actor: Actor | None = None,
    ) -> JournalEntry:
        """``amount`` from ``credit`` to ``debit``: the two-line entry every posting here is."""
        return cls(
            order_id=order_id,
            kind=kind,
            currency=currency,
            event_id=caused_by,
            created_at=at,
            postings=[Posting(debit, debit=amount), Posting(credit, credit=amount)],
            actor_subject=actor.subject if actor else None,
            actor_token_id=actor.token_id if actor else None,
        )

    @property
    def debits(self) -> Decimal:
        return sum((p.debit for p in self.postings), start=ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((p.credit for p in self.postings), start=ZERO)

    @property
    def fact_id(self) -> UUID:
        return fact_id(self.kind, self.order_id)

    def check_balanced(self) -> None:
        if len(self.postings) < 2:
            raise UnbalancedEntryError(f"a journal entry needs at least two postings: {self}")
        if self.debits != self.credits:
            raise UnbalancedEntryError(
                f"entry {self.kind} of order {self.order_id} does not balance: "
                f"debits {self.debits} != credits {self.credits}"
            )


@dataclass(eq=False)
class Invoice:
    """An order's invoice and the journal entries posted for it (the aggregate root)."""

    invoice_id: str
    order_id: int
    customer_id: str
    currency: str
    amount: Decimal
    status: InvoiceStatus
    created_at: datetime
    updated_at: datetime
    entries: list[JournalEntry] = field(default_factory=list)

    @staticmethod
    def id_for(order_id: int) -> str:
        return f"INV-{order_id}"

    @classmethod
    def issue(
        cls,
        *,
        order_id: int,
        customer_id: str,
        currency: str,
        amount: Decimal,
        caused_by: UUID,
        at: datetime,
        actor: Actor | None = None,
    ) -> Invoice:
        """Invoice an order: post its total as receivable, earned as revenue."""
        amount = money(amount)
        entry = JournalEntry.transfer(
            order_id=order_id,
            kind=EntryKind.INVOICE,
            currency=currency,
            amount=amount,
            debit=Account.RECEIVABLE,
            credit=Account.REVENUE,
            caused_by=caused_by,
            at=at,
            actor=actor,
        )
        return cls(
            invoice_id=cls.id_for(order_id),
            order_id=order_id,
            customer_id=customer_id,
            currency=currency,
            amount=amount,
            status=InvoiceStatus.INVOICED,
            created_at=at,
            updated_at=at,
            entries=[entry],
        )

    def refund(self, *, caused_by: UUID, at: datetime, actor: Actor | None = None) -> bool:
        """Reverse the invoice (a chargeback); False, changing nothing, if it already was."""
        if self.status == InvoiceStatus.REFUNDED:
            return False
        self.entries.append(
            JournalEntry.transfer(
                order_id=self.order_id,
                kind=EntryKind.REVERSAL,
                currency=self.currency,
                amount=self.amount,
                debit=Account.REVENUE,
                credit=Account.RECEIVABLE,
                caused_by=caused_by,
                at=at,
                actor=actor,
            )
        )
        self.status, self.updated_at = InvoiceStatus.REFUNDED, at
        return True

    def entry(self, kind: EntryKind) -> JournalEntry:
        """The entry of ``kind`` (``LookupError`` if it was not posted)."""
        for entry in self.entries:
            if entry.kind == kind:
                return entry
        raise LookupError(f"order {self.order_id} has no {kind} entry")


@dataclass(frozen=True)
class Balance:
    """An account's totals in one currency; ``balance`` is debits minus credits."""

    account: Account
    currency: str
    debits: Decimal
    credits: Decimal
    postings: int = 0
    """How many postings the totals add up."""

    @property
    def balance(self) -> Decimal:
        return self.debits - self.credits


DEFAULT_CURRENCY = "EUR"
"""The currency of an account's balance when it has no postings yet (v1 orders are in EUR)."""


def headline_balance(account: Account, balances: list[Balance]) -> Balance:
    """The one balance to show for ``account`` when no currency was asked for.

    The currency it has postings in; with several (a multi-currency shop), the one with the
    most postings (ties: the first code alphabetically); with none, zeros in EUR.
    """
    if not balances:
        return Balance(account=account, currency=DEFAULT_CURRENCY, debits=ZERO, credits=ZERO)
    return min(balances, key=lambda b: (-b.postings, b.currency))
