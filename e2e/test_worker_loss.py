"""Billing's prefork pool processes are SIGKILLed while a burst of orders is handled;
the broker redelivers what they held (acks_late) and every order is posted exactly once: its
event let through once by billing's inbox (``inbox_admissions``, which no unique key limits)."""

from __future__ import annotations

import os

import pytest

from e2e.clients.containers import Containers
from e2e.clients.databases import Databases, exactly_once
from e2e.clients.edge import Edge
from e2e.clients.load import OrderBurst
from e2e.clients.waits import Stopwatch, wait_until

ORDERS = int(os.environ.get("E2E_WORKER_LOSS_ORDERS", "400"))
KILLS = 3

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_billing_pool_killed_mid_handling(edge: Edge, dbs: Databases, containers: Containers, record) -> None:
    workers = containers.of("billing-service", running_only=True)
    clock = Stopwatch()
    burst = OrderBurst(edge, ORDERS)
    killed: list[int] = []
    kills = 0
    # Kill at a few points of the burst, each time while billing is part-way through it.
    for fraction in (0.05, 0.35, 0.65)[:KILLS]:
        target = max(1, int(ORDERS * fraction))

        def progressed(target: int = target) -> bool:
            return len(dbs.journal_counts(burst.ids)) >= target

        try:
            wait_until(
                progressed,
                timeout=120,
                interval=0.1,
                what=f"billing to post {target} of the burst's invoices",
            )
        except AssertionError:
            break
        if len(dbs.journal_counts(burst.ids)) >= ORDERS:
            break
        for name in workers:
            killed += containers.kill_pool_children(name)
        kills += 1

    ids = burst.wait(timeout=300)
    assert killed, (
        "found no prefork pool process to kill in billing's containers (WORKER_POOL must be prefork)"
    )
    dbs.wait_handled(ids, timeout=600)
    lost, duplicated = exactly_once(ids, dbs.invoice_admissions(ids))
    handled = clock()
    dbs.wait_statuses(ids, "dispatched", timeout=600)  # quiet stack for what runs next
    record(
        orders=len(ids),
        kills=kills,
        processes_killed=len(killed),
        lost=len(lost),
        duplicated=len(duplicated),
        handled_s=handled,
        all_dispatched_s=clock(),
    )
    assert (lost, duplicated) == ([], []), f"lost {lost[:10]}, posted twice {duplicated[:10]}"
    assert kills >= 1, "billing finished the burst before a pool could be killed mid-way"
    assert exactly_once(ids, dbs.shipment_admissions(ids)) == ([], [])
