"""The invoices repository: load and add :class:`~billing_service.domain.Invoice` aggregates."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_service.adapters.orm import invoices, journal_entries, postings
from billing_service.domain import Account, Balance, Invoice
from billing_service.domain.ledger import ZERO
from billing_service.service_layer.ports import AbstractInvoiceRepository


class SqlAlchemyInvoiceRepository(AbstractInvoiceRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, invoice: Invoice) -> None:
        self.session.add(invoice)

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
