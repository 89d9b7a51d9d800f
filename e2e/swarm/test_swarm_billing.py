"""billing-service on Swarm: three replicas share its queue, and a rolling update of them under
a steady stream of orders loses no order and posts none twice (asserted on billing's ledger,
logistic's shipments and the orders' final status)."""

from __future__ import annotations

import os
import time

import pytest

from e2e.clients.containers import SwarmContainers
from e2e.clients.databases import Databases, exactly_once
from e2e.clients.edge import Edge
from e2e.clients.load import OrderBurst, OrderStream
from e2e.clients.waits import wait_until
from e2e.swarm.conftest import invoice_event_ids, succeeded_task_ids

SHARE_ORDERS = int(os.environ.get("E2E_SWARM_SHARE_ORDERS", "150"))
STREAM_INTERVAL = float(os.environ.get("E2E_SWARM_STREAM_INTERVAL", "0.1"))
HANDLE_TIMEOUT = float(os.environ.get("E2E_SWARM_HANDLE_TIMEOUT", "300"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def test_three_billing_replicas_share_the_queue(
    edge: Edge, dbs: Databases, containers: SwarmContainers, billing_three: list[str], record
) -> None:
    assert len(billing_three) == 3, billing_three
    ids = OrderBurst(edge, SHARE_ORDERS).wait(timeout=300)
    billing, logistic = dbs.wait_handled(ids, timeout=HANDLE_TIMEOUT)
    assert exactly_once(ids, billing) == ([], []), "billing lost or doubled an order"
    assert exactly_once(ids, logistic) == ([], []), "logistic lost or doubled an order"

    events = invoice_event_ids(dbs, ids)
    handled = {name: succeeded_task_ids(containers, name) & set(events) for name in billing_three}
    record(orders=len(ids), **{f"replica{i + 1}": len(h) for i, h in enumerate(handled.values())})
    assert all(handled.values()), f"a replica handled none of the {len(ids)} orders: {handled}"
    assert set().union(*handled.values()) == set(events), "an invoiced order no replica logged"


def test_rolling_update_under_a_steady_stream_loses_and_doubles_nothing(
    edge: Edge, dbs: Databases, containers: SwarmContainers, billing_three: list[str], record
) -> None:
    before = {containers.container_id(name) for name in containers.of("billing-service")}
    stream = OrderStream(edge, interval=STREAM_INTERVAL)
    stream.start()
    try:
        wait_until(lambda: len(stream.ids) >= 20, timeout=120, what="20 orders before the update")
        update_started = time.monotonic()
        containers.update_force("billing-service")
        updated = time.monotonic()
        # Orders keep flowing after the last replica was replaced.
        wait_until(
            lambda: len(stream.ids_since(updated)) >= 20, timeout=120, what="20 orders after the update"
        )
    finally:
        ids = stream.finish()
    after = {containers.container_id(name) for name in containers.of("billing-service")}
    assert len(after) == 3 and before.isdisjoint(after), f"not every replica was replaced: {before} → {after}"

    billing, logistic = dbs.wait_handled(ids, timeout=HANDLE_TIMEOUT)
    dbs.wait_statuses(ids, "dispatched", timeout=HANDLE_TIMEOUT)
    billing_lost, billing_dup = exactly_once(ids, billing)
    logistic_lost, logistic_dup = exactly_once(ids, logistic)
    record(
        orders=len(ids),
        update_s=updated - update_started,
        lost=len(billing_lost) + len(logistic_lost),
        duplicated=len(billing_dup) + len(logistic_dup),
    )
    assert (billing_lost, billing_dup) == ([], []), (
        f"billing lost {billing_lost[:10]}, twice {billing_dup[:10]}"
    )
    assert (logistic_lost, logistic_dup) == ([], []), (
        f"logistic lost {logistic_lost[:10]}, twice {logistic_dup[:10]}"
    )
    assert dbs.unbalanced_entries() == []
