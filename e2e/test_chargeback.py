"""A chargeback reaches both consumers; billing's reversal balances the ledger, the
shipment is cancelled (before dispatch) or returned (after), and the order ends ``cancelled`` or
``returned``."""

from __future__ import annotations

from decimal import Decimal

from e2e.clients.databases import Databases
from e2e.clients.edge import FINAL_AFTER_CHARGEBACK, Edge
from e2e.clients.waits import Stopwatch, wait_until

OUTCOME = {"cancelled": "cancelled", "return_opened": "returned"}


def _charge_back_and_check(order_id: int, edge: Edge, dbs: Databases) -> dict:
    clock = Stopwatch()
    edge.chargeback(order_id)

    wait_until(
        lambda: dbs.journal_counts([order_id], "reversal") == {order_id: 1},
        timeout=60,
        what=f"billing to post the reversal of order {order_id}",
        describe=lambda: f"postings {dbs.order_postings(order_id)}",
    )
    final = edge.wait_for_status(order_id, FINAL_AFTER_CHARGEBACK, timeout=90)

    postings = dbs.order_postings(order_id)
    kinds = sorted({p["kind"] for p in postings})
    assert kinds == ["invoice", "reversal"], postings
    debits, credits = sum(p["debit"] for p in postings), sum(p["credit"] for p in postings)
    assert debits == credits == Decimal("24.00"), postings  # 12.00 invoiced, 12.00 reversed
    net: dict[str, Decimal] = {}
    for p in postings:
        net[p["account"]] = net.get(p["account"], Decimal(0)) + p["debit"] - p["credit"]
    assert all(v == 0 for v in net.values()), f"accounts not back to zero for the order: {net}"
    invoice = dbs.invoice(order_id)
    assert invoice is not None and invoice["status"] == "refunded"

    shipment = dbs.shipment(order_id)
    assert shipment is not None and shipment["status"] in OUTCOME, shipment
    assert final["status"] == OUTCOME[shipment["status"]], (final, shipment)
    return {"status": final["status"], "seconds": clock()}


def _ledger_balances(dbs: Databases) -> int:
    assert dbs.unbalanced_entries() == []
    totals = dbs.ledger_totals()
    for currency, (debits, credits) in totals.items():
        assert debits == credits, f"ledger out of balance in {currency}: {debits} != {credits}"
    return len(totals)


def test_chargeback_after_dispatch_returns_and_reverses(edge: Edge, dbs: Databases, record) -> None:
    order_id = edge.submit()["id"]
    edge.wait_for_status(order_id, "dispatched", timeout=90)

    result = _charge_back_and_check(order_id, edge, dbs)

    assert result["status"] == "returned"
    record(
        after_dispatch=result["status"],
        seconds_to_returned=result["seconds"],
        ledger_currencies_balanced=_ledger_balances(dbs),
    )


def test_chargeback_right_after_submit_ends_final(edge: Edge, dbs: Databases, record) -> None:
    order_id = edge.submit()["id"]
    dbs.wait_handled([order_id], timeout=60)  # billing must know the order to reverse it

    result = _charge_back_and_check(order_id, edge, dbs)

    assert result["status"] in FINAL_AFTER_CHARGEBACK
    record(right_after_submit=result["status"], seconds_to_final=result["seconds"])
    _ledger_balances(dbs)
