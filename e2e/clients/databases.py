"""Read-only SQL on each service's own database, as that service's role (tables per the specs).

order_service: ``orders``, ``outbox``; billing_service: ``invoices``, ``journal_entries``,
``postings``; logistic_service: ``shipments``; each consumer's ``inbox_admissions`` (one row per
effect its inbox let through: the only count a broken inbox would double, since the effects'
own tables have unique keys per order).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import psycopg

from e2e.clients.settings import Settings
from e2e.clients.waits import wait_until


class Database:
    """One autocommit connection to one service's database, reopened after a failure."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.dsn, autocommit=True)
            try:
                with self._conn.cursor() as cur:
                    cur.execute(sql, params)  # type: ignore[arg-type]
                    return list(cur.fetchall())
            except psycopg.OperationalError:
                self._conn.close()
                self._conn = None
                raise

    def value(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class Databases:
    def __init__(self, settings: Settings) -> None:
        self.order = Database(settings.dsn("order-service"))
        self.billing = Database(settings.dsn("billing-service"))
        self.logistic = Database(settings.dsn("logistic-service"))

    def close(self) -> None:
        for db in (self.order, self.billing, self.logistic):
            db.close()

    def wait_handled(
        self, order_ids: Iterable[int], *, timeout: float, what: str = "billing and logistic to handle"
    ) -> tuple[dict[int, int], dict[int, int]]:
        """Poll until every order has an invoice entry and a shipment; return both count maps."""
        ids = list(order_ids)
        counts: dict[str, dict[int, int]] = {}

        def done() -> bool:
            counts["billing"] = self.journal_counts(ids)
            counts["logistic"] = self.shipment_counts(ids)
            return len(counts["billing"]) == len(ids) and len(counts["logistic"]) == len(ids)

        wait_until(
            done,
            timeout=timeout,
            interval=0.5,
            what=f"{what} {len(ids)} order(s)",
            describe=lambda: (
                f"billing has {len(counts.get('billing', {}))}, "
                f"logistic {len(counts.get('logistic', {}))} of {len(ids)}"
            ),
        )
        return counts["billing"], counts["logistic"]

    # --- order-service ---------------------------------------------------------------------
    def outbox_last_id(self) -> int:
        """The newest outbox row's id (rows are purged after a retention; ids only grow)."""
        return int(self.order.value("SELECT coalesce(max(id), 0) FROM outbox"))

    def outbox_unpublished(self) -> int:
        return int(self.order.value("SELECT count(*) FROM outbox WHERE published_at IS NULL"))

    def outbox_unpublished_after(self, last_id: int) -> int:
        """Rows newer than ``last_id`` not published yet (waiting, or parked by the relay)."""
        return int(
            self.order.value("SELECT count(*) FROM outbox WHERE id > %s AND published_at IS NULL", (last_id,))
        )

    def outbox_rows_after(self, last_id: int) -> int:
        return int(self.order.value("SELECT count(*) FROM outbox WHERE id > %s", (last_id,)))

    def order_statuses(self, order_ids: Iterable[int]) -> dict[str, int]:
        """How many of the orders are in each status (order-service's view)."""
        return dict(
            self.order.rows(
                "SELECT status, count(*) FROM orders WHERE id = ANY(%s) GROUP BY status", (list(order_ids),)
            )
        )

    def wait_statuses(self, order_ids: Iterable[int], status: str, *, timeout: float) -> None:
        ids = list(order_ids)
        seen: dict[str, int] = {}

        def all_there() -> bool:
            seen.clear()
            seen.update(self.order_statuses(ids))
            return seen.get(status, 0) == len(ids)

        wait_until(
            all_there,
            timeout=timeout,
            interval=1,
            what=f"all {len(ids)} orders to reach {status}",
            describe=lambda: str(seen),
        )

    # --- billing-service -------------------------------------------------------------------
    def journal_counts(self, order_ids: Iterable[int], kind: str = "invoice") -> dict[int, int]:
        """Journal entries of ``kind`` per order id (orders without one are absent)."""
        return dict(
            self.billing.rows(
                "SELECT order_id, count(*) FROM journal_entries WHERE kind = %s AND order_id = ANY(%s) "
                "GROUP BY order_id",
                (kind, list(order_ids)),
            )
        )

    def invoice_admissions(self, order_ids: Iterable[int]) -> dict[int, int]:
        """How many times billing's inbox let the event that invoiced each order through.

        Counted per event id in ``inbox_admissions``, which no unique key limits: a redelivery
        the inbox failed to stop shows up as 2 (orders not invoiced yet are absent).
        """
        return dict(
            self.billing.rows(
                "SELECT e.order_id, count(a.id) FROM journal_entries e "
                "JOIN inbox_admissions a ON a.dedupe_key = 'billing:' || e.event_id::text "
                "WHERE e.kind = 'invoice' AND e.order_id = ANY(%s) GROUP BY e.order_id",
                (list(order_ids),),
            )
        )

    def invoice(self, order_id: int) -> dict[str, Any] | None:
        rows = self.billing.rows(
            "SELECT invoice_id, order_id, currency, amount, status FROM invoices WHERE order_id = %s",
            (order_id,),
        )
        if not rows:
            return None
        invoice_id, oid, currency, amount, status = rows[0]
        return {
            "invoice_id": invoice_id,
            "order_id": oid,
            "currency": str(currency).strip(),
            "amount": amount,
            "status": status,
        }

    def order_postings(self, order_id: int) -> list[dict[str, Any]]:
        return [
            {"kind": kind, "account": account, "debit": debit or Decimal(0), "credit": credit or Decimal(0)}
            for kind, account, debit, credit in self.billing.rows(
                "SELECT e.kind, p.account, p.debit, p.credit FROM postings p "
                "JOIN journal_entries e ON e.id = p.entry_id WHERE e.order_id = %s ORDER BY p.id",
                (order_id,),
            )
        ]

    def ledger_totals(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Whole ledger: (sum of debits, sum of credits) per currency."""
        return {
            str(currency).strip(): (debits or Decimal(0), credits or Decimal(0))
            for currency, debits, credits in self.billing.rows(
                "SELECT e.currency, sum(p.debit), sum(p.credit) FROM postings p "
                "JOIN journal_entries e ON e.id = p.entry_id GROUP BY e.currency"
            )
        }

    def unbalanced_entries(self) -> list[tuple[Any, ...]]:
        """Journal entries whose own postings do not balance (must be none)."""
        return self.billing.rows(
            "SELECT e.id, e.order_id, e.kind, sum(p.debit), sum(p.credit) FROM journal_entries e "
            "JOIN postings p ON p.entry_id = e.id GROUP BY e.id, e.order_id, e.kind "
            "HAVING coalesce(sum(p.debit), 0) <> coalesce(sum(p.credit), 0)"
        )

    # --- logistic-service ------------------------------------------------------------------
    def shipment_counts(self, order_ids: Iterable[int]) -> dict[int, int]:
        return dict(
            self.logistic.rows(
                "SELECT order_id, count(*) FROM shipments WHERE order_id = ANY(%s) GROUP BY order_id",
                (list(order_ids),),
            )
        )

    def shipment_admissions(self, order_ids: Iterable[int]) -> dict[int, int]:
        """How many times logistic's inbox let each order's submit event through (see above)."""
        return dict(
            self.logistic.rows(
                "SELECT s.order_id, count(a.id) FROM shipments s "
                "JOIN inbox_admissions a ON a.dedupe_key = 'logistic:' || s.submit_event_id::text "
                "WHERE s.order_id = ANY(%s) GROUP BY s.order_id",
                (list(order_ids),),
            )
        )

    def shipment(self, order_id: int) -> dict[str, Any] | None:
        rows = self.logistic.rows(
            "SELECT shipment_id, order_id, status FROM shipments WHERE order_id = %s", (order_id,)
        )
        if not rows:
            return None
        shipment_id, oid, status = rows[0]
        return {"shipment_id": shipment_id, "order_id": oid, "status": status}


def exactly_once(order_ids: Iterable[int], counts: dict[int, int]) -> tuple[list[int], list[int]]:
    """(lost, duplicated) order ids given per-order counts (of admissions: see above)."""
    ids = list(order_ids)
    return [i for i in ids if counts.get(i, 0) == 0], [i for i in ids if counts.get(i, 0) > 1]
