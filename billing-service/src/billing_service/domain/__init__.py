"""Billing's domain: the general ledger (no framework, no I/O)."""

from billing_service.domain.ledger import (
    Account,
    Actor,
    AmountOutOfRangeError,
    Balance,
    EntryKind,
    Invoice,
    InvoiceStatus,
    JournalEntry,
    LedgerError,
    Posting,
    UnbalancedEntryError,
    fact_id,
    headline_balance,
)

__all__ = [
    "Account",
    "Actor",
    "AmountOutOfRangeError",
    "Balance",
    "EntryKind",
    "Invoice",
    "InvoiceStatus",
    "JournalEntry",
    "LedgerError",
    "Posting",
    "UnbalancedEntryError",
    "fact_id",
    "headline_balance",
]
