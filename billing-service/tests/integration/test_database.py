"""The ledger in its real database (SQLite file, or PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from event_contracts import Delivery, Order
from event_contracts.contrib.sqlalchemy import SqlInbox
from event_contracts.testing import InMemoryBus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from billing_service.adapters import database, orm
from billing_service.adapters.orm import journal_entries, postings
from billing_service.adapters.unit_of_work import SqlAlchemyUnitOfWork, session_factory
from billing_service.bootstrap import Billing, bootstrap
from billing_service.domain import EntryKind, Invoice, InvoiceStatus
from billing_service.service_layer.handlers import UnknownOrderError

from .conftest import again, an_order, unique_order_id

pytestmark = pytest.mark.integration

T0 = datetime(2025, 5, 1, 8, 30, 15, 123456, tzinfo=UTC)


def sql_billing(engine: Engine) -> tuple[Billing, InMemoryBus]:
    bus = InMemoryBus()
    return bootstrap(publisher=bus, engine=engine), bus


def deliver(order: Order, kind: str = "submit") -> Delivery:
    return Delivery(event_id=order.event_id, routing_key=f"order.v2.{kind}", consumer="billing")


def test_migrations_build_exactly_the_mapped_schema(migrated: Engine) -> None:
    with migrated.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), orm.metadata)
        assert differences == []
        assert database.current_revision(connection) == database.head_revision() is not None


def test_migrating_again_changes_nothing(migrated: Engine) -> None:
    assert database.migrate(migrated) == database.head_revision()


def test_an_invoice_round_trips_exactly(migrated: Engine) -> None:
    orm.start_mappers()
    order_id = unique_order_id()
    invoice = Invoice.issue(
        order_id=order_id,
        customer_id="c-1",
        currency="JPY",
        amount=Decimal("999999999999.9999"),
        caused_by=uuid4(),
        at=T0,
    )
    uow = SqlAlchemyUnitOfWork(session_factory(migrated))
    with uow:
        uow.invoices.add(invoice)
        uow.commit()

    with SqlAlchemyUnitOfWork(session_factory(migrated)) as uow:
        loaded = uow.invoices.get(order_id)
        assert loaded is not None and loaded is not invoice
        assert (loaded.invoice_id, loaded.amount, loaded.status, loaded.created_at) == (
            f"INV-{order_id}",
            Decimal("999999999999.9999"),
            InvoiceStatus.INVOICED,
            T0,
        )
        (entry,) = loaded.entries
        assert (entry.kind, entry.event_id, entry.created_at) == (
            EntryKind.INVOICE,
            invoice.entries[0].event_id,
            T0,
        )
        assert [(p.account, p.debit, p.credit) for p in entry.postings] == [
            ("receivable", Decimal("999999999999.9999"), 0),
            ("revenue", 0, Decimal("999999999999.9999")),
        ]


def test_the_database_refuses_a_second_invoice_entry_for_an_order(migrated: Engine) -> None:
    billing, _ = sql_billing(migrated)
    order = an_order()
    billing.invoice_order(order, deliver(order))

    with migrated.connect() as connection, pytest.raises(IntegrityError):
        connection.execute(
            text(
                "INSERT INTO journal_entries (order_id, kind, currency, event_id, created_at) "
                "VALUES (:order_id, 'invoice', 'EUR', :event_id, :at)"
            ),
            {"order_id": order.id, "event_id": uuid4().hex, "at": T0},
        )


def test_a_failed_event_leaves_no_trace(migrated: Engine) -> None:
    billing, bus = sql_billing(migrated)
    order = an_order()

    with pytest.raises(UnknownOrderError):
        billing.refund_order(order, deliver(order, "chargeback"))

    with migrated.connect() as connection:
        keys = connection.execute(
            text("SELECT count(*) FROM processed_events WHERE dedupe_key = :key"),
            {"key": f"billing:{order.event_id}"},
        ).scalar()
    assert keys == 0 and bus.published == []


def test_duplicates_and_chargebacks_in_the_database(migrated: Engine) -> None:
    billing, bus = sql_billing(migrated)
    order = an_order(unit_price="0.0001", quantity=3)
    chargeback = again(order)

    for event, kind in [
        (order, "submit"),
        (order, "submit"),
        (again(order), "submit"),
        (chargeback, "chargeback"),
        (chargeback, "chargeback"),
    ]:
        handle = billing.invoice_order if kind == "submit" else billing.refund_order
        handle(event, deliver(event, kind))

    with migrated.connect() as connection:
        rows = connection.execute(
            select(journal_entries.c.kind, postings.c.account, postings.c.debit, postings.c.credit)
            .join_from(postings, journal_entries)
            .where(journal_entries.c.order_id == order.id)
            .order_by(postings.c.id)
        ).all()
    cents = Decimal("0.0003")
    assert [tuple(row) for row in rows] == [
        ("invoice", "receivable", cents, 0),
        ("invoice", "revenue", 0, cents),
        ("reversal", "revenue", cents, 0),
        ("reversal", "receivable", 0, cents),
    ]
    assert len(bus.published) == 5 and len({fact for _, fact in bus.published}) == 2


AMOUNTS = st.decimals(min_value=0, max_value=Decimal("99999.9999"), places=4)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["submit", "chargeback"]),
        st.integers(min_value=0, max_value=3),
        st.sampled_from(["EUR", "USD"]),
        AMOUNTS,
    ),
    max_size=12,
)


@pytest.mark.timeout(300)
def test_the_database_ledger_balances_after_any_sequence_of_events(migrated: Engine) -> None:
    billing, _ = sql_billing(migrated)

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(steps=STEPS)
    def run(steps: list[tuple[str, int, str, Decimal]]) -> None:
        base = unique_order_id()
        for kind, offset, currency, amount in steps:
            order = an_order(base + offset, currency=currency, unit_price=str(amount), quantity=1)
            if kind == "submit":
                billing.invoice_order(order, deliver(order))
            else:
                with contextlib.suppress(UnknownOrderError):  # billing never saw that order
                    billing.refund_order(order, deliver(order, "chargeback"))
        assert_ledger_balances(migrated)

    run()


def assert_ledger_balances(engine: Engine) -> None:
    """Checked in SQL, over the whole ledger: the sums the e2e suite and auditors would run."""
    with engine.connect() as connection:
        per_currency = connection.execute(
            text(
                "SELECT e.currency, sum(p.debit) - sum(p.credit) FROM postings p "
                "JOIN journal_entries e ON e.id = p.entry_id GROUP BY e.currency"
            )
        ).all()
        unbalanced_entries = connection.execute(
            text(
                "SELECT p.entry_id FROM postings p GROUP BY p.entry_id "
                "HAVING sum(p.debit) <> sum(p.credit) OR count(*) < 2"
            )
        ).all()
        refunded_without_reversal = connection.execute(
            text(
                "SELECT i.order_id FROM invoices i LEFT JOIN journal_entries e "
                "ON e.order_id = i.order_id AND e.kind = 'reversal' "
                "WHERE (i.status = 'refunded') <> (e.id IS NOT NULL)"
            )
        ).all()
    assert all(Decimal(difference) == 0 for _, difference in per_currency)
    assert unbalanced_entries == [] and refunded_without_reversal == []


class GateOff(SqlInbox):
    """The inbox switched off: it logs every admission but lets every delivery through."""

    def admit(self, delivery: Delivery) -> bool:
        if not super().admit(delivery):  # refused: let it through anyway, and log it
            self.session.execute(
                insert(orm.inbox.admissions).values(
                    dedupe_key=delivery.dedupe_key, routing_key=delivery.routing_key
                )
            )
        return True


class UnitOfWorkWithoutInbox(SqlAlchemyUnitOfWork):
    def __enter__(self) -> UnitOfWorkWithoutInbox:
        super().__enter__()
        self.inbox = GateOff(self.session, orm.inbox)
        return self


def postings_let_through(engine: Engine, delivery: Delivery) -> int:
    """How many times an effect of ``delivery`` committed: no unique key limits this count."""
    admissions = orm.inbox.admissions
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).where(admissions.c.dedupe_key == delivery.dedupe_key)
            ).scalar_one()
        )


def deliver_submit_twice(engine: Engine, *, inbox: bool) -> tuple[Delivery, InMemoryBus]:
    orm.start_mappers()
    bus = InMemoryBus()
    sessions = session_factory(engine)
    uow = SqlAlchemyUnitOfWork if inbox else UnitOfWorkWithoutInbox
    billing = bootstrap(publisher=bus, uow=lambda: uow(sessions))
    order = an_order()
    delivery = deliver(order)
    billing.invoice_order(order, delivery)
    billing.invoice_order(order, delivery)  # redelivered (say, the worker died before its ack)
    return delivery, bus


def test_a_redelivered_event_is_let_through_once_by_the_inbox(migrated: Engine) -> None:
    delivery, bus = deliver_submit_twice(migrated, inbox=True)

    assert postings_let_through(migrated, delivery) == 1
    # The crash-between-commit-and-publish recovery stays: the same fact goes out again.
    (_, first), (_, second) = bus.published
    assert first == second


def test_without_the_inbox_the_same_assertion_fails(migrated: Engine) -> None:
    """The counterfactual of the test above: its assertion can fail, and does with no gate."""
    delivery, _ = deliver_submit_twice(migrated, inbox=False)

    assert postings_let_through(migrated, delivery) == 2
