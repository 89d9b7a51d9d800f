"""The invoices repository: load and add :class:`~billing_service.domain.Invoice` aggregates.

A new invoice is written on PostgreSQL as ONE statement, at once: the invoice and its entry
are data-modifying CTEs, and the postings' INSERT takes the entry's id from the entry's
``RETURNING``. Through the ORM it was three round trips at commit and the session's flush
(planning, identity map, attribute history) on every order. Foreign keys are checked at the
end of the statement, when every row exists. SQLite has no DML in CTEs: there the ORM
writes the invoice.
Loaded invoices (a refund's reversal) change through the ORM session as before.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Insert, bindparam, cast, func, insert, literal, select, union_all
from sqlalchemy.orm import Session

from billing_service.adapters.orm import invoices, journal_entries, postings
from billing_service.domain import Account, Balance, Invoice
from billing_service.domain.ledger import ZERO
from billing_service.service_layer.ports import AbstractInvoiceRepository

_INVOICE = tuple(c.key for c in invoices.c)
_ENTRY = tuple(c.key for c in journal_entries.c if c.key != "id")
_POSTING = ("account", "debit", "credit")


class SqlAlchemyInvoiceRepository(AbstractInvoiceRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, invoice: Invoice) -> None:
        if self.session.get_bind().dialect.name != "postgresql" or len(invoice.entries) != 1:
            self.session.add(invoice)  # a new invoice has one entry (Invoice.issue)
            return
        (entry,) = invoice.entries
        parameters: dict[str, Any] = {f"i_{c}": getattr(invoice, c) for c in _INVOICE}
        parameters.update({f"e0_{c}": getattr(entry, c) for c in _ENTRY})
        for p, posting in enumerate(entry.postings):
            parameters.update({f"e0p{p}_{c}": getattr(posting, c) for c in _POSTING})
        self.session.execute(_new_invoice(len(entry.postings)), parameters)

    def get(self, order_id: int, *, lock: bool = True) -> Invoice | None:
        query = select(Invoice).where(invoices.c.order_id == order_id)
        if lock:
            query = query.with_for_update()
        return self.session.scalars(query).one_or_none()

    def balances(self, account: Account) -> list[Balance]:
        query = (
            select(
                journal_entries.c.currency,
                func.sum(postings.c.debit),
                func.sum(postings.c.credit),
                func.count(),
            )
            .select_from(postings.join(journal_entries))
            .where(postings.c.account == account)
            .group_by(journal_entries.c.currency)
            .order_by(journal_entries.c.currency)
        )
        return [
            Balance(
                account=account,
                currency=currency,
                debits=debits or ZERO,
                credits=credits or ZERO,
                postings=count,
            )
            for currency, debits, credits, count in self.session.execute(query)
        ]


@functools.lru_cache(maxsize=32)
def _new_invoice(postings_count: int) -> Insert:
    """The statement writing an invoice with one entry of ``postings_count`` postings.

    Built once per shape, so SQLAlchemy's compiled cache serves it from then on. The postings
    are one INSERT, in their order (``ORDER BY n``), so their ids keep it: CTEs run in no
    defined order among themselves.
    """

    def param(prefix: str, column: str, table: Any) -> Any:
        return bindparam(f"{prefix}_{column}", type_=table.c[column].type)

    invoice = insert(invoices).values({c: param("i", c, invoices) for c in _INVOICE}).cte("invoice")
    entry = (
        insert(journal_entries)
        .values({c: param("e0", c, journal_entries) for c in _ENTRY})
        .returning(journal_entries.c.id)
        .cte("entry")
    )
    # CAST: a bare parameter in a SELECT list has no type for PostgreSQL to infer.
    lines = union_all(
        *(
            select(
                entry.c.id.label("entry_id"),
                *(
                    cast(param(f"e0p{p}", c, postings), postings.c[c].type).label(c)
                    for c in _POSTING
                ),
                literal(p).label("n"),
            )
            for p in range(postings_count)
        )
    ).subquery("line")
    rows = select(lines.c.entry_id, *(lines.c[c] for c in _POSTING)).order_by(lines.c.n)
    return insert(postings).from_select(["entry_id", *_POSTING], rows).add_cte(invoice, entry)
