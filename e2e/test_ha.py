"""Scenario 5: the RabbitMQ node leading the consumer queues is killed while 1,000 orders are
submitted through the edge, and started again later. Every order is handled exactly once by
billing and by logistic, and every quorum queue gets back to 3 online members.

Recovery times (printed): kill → billing and logistic handle an order submitted after the kill;
kill → every quorum queue has 3 online members again (the node is started once handling has
resumed without it, or after ``E2E_HA_DOWN_MAX`` s).
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from e2e.clients.broker_admin import BrokerAdmin
from e2e.clients.containers import Containers
from e2e.clients.databases import Databases, exactly_once
from e2e.clients.edge import Edge
from e2e.clients.load import OrderBurst
from e2e.clients.waits import wait_until

ORDERS = int(os.environ.get("E2E_HA_ORDERS", "1000"))
DOWN_MAX = float(os.environ.get("E2E_HA_DOWN_MAX", "60"))
HANDLE_TIMEOUT = float(os.environ.get("E2E_HA_HANDLE_TIMEOUT", "600"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


class ResumeWatch(threading.Thread):
    """Notes when billing and logistic first handle an order answered after ``since``."""

    def __init__(self, burst: OrderBurst, dbs: Databases, since: float) -> None:
        super().__init__(daemon=True, name="resume-watch")
        self.burst, self.dbs, self.since = burst, dbs, since
        self.at: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and len(self.at) < 2:
            ids = self.burst.ids_since(self.since)
            if ids:
                for name, count in (("billing", self.dbs.journal_counts),
                                    ("logistic", self.dbs.shipment_counts)):
                    try:
                        if name not in self.at and count(ids):
                            self.at[name] = time.monotonic()
                    except Exception:  # noqa: BLE001 - keep watching
                        pass
            self.stop.wait(0.2)


def test_leader_node_killed_under_load(edge: Edge, broker: BrokerAdmin, dbs: Databases,
                                       containers: Containers, record) -> None:
    broker.wait_all_online(timeout=120)
    leader = broker.leader("billing.order")
    node_service = leader.split("@", 1)[1]  # node rabbit@rabbitN runs in compose service rabbitN
    (node,) = containers.of(node_service)
    print(f"killing {node} ({leader}, leader of billing.order) during {ORDERS} orders")

    burst = OrderBurst(edge, ORDERS)
    watch: ResumeWatch | None = None
    restarted_at = None
    try:
        wait_until(lambda: len(burst.ids) >= ORDERS // 4, timeout=120,
                   what=f"a quarter of the {ORDERS} orders to be accepted before the kill",
                   describe=lambda: f"{len(burst.ids)} accepted, errors {burst.errors[:2]}")
        containers.kill(node)
        killed_at = time.monotonic()
        watch = ResumeWatch(burst, dbs, killed_at)
        watch.start()

        ids = burst.wait(timeout=300)
        accepted_at = burst.finished
        watch.join(timeout=DOWN_MAX)
        assert containers.state(node) != "running", f"{node} came back before we started it"
    finally:
        if watch is not None:
            watch.stop.set()
        containers.ensure_running(node)
        restarted_at = time.monotonic()
    containers.wait_running(node, timeout=180)
    broker.wait_all_online(timeout=180)
    online_at = time.monotonic()

    billing, logistic = dbs.wait_handled(ids, timeout=HANDLE_TIMEOUT)
    handled_at = time.monotonic()
    billing_lost, billing_dup = exactly_once(ids, billing)
    logistic_lost, logistic_dup = exactly_once(ids, logistic)
    resumed = {k: v - killed_at for k, v in watch.at.items()}
    record(
        orders=len(ids), node=node_service,
        lost=len(billing_lost) + len(logistic_lost),
        duplicated=len(billing_dup) + len(logistic_dup),
        submit_s=accepted_at - burst.started,
        kill_to_billing_resumed_s=resumed.get("billing", float("nan")),
        kill_to_logistic_resumed_s=resumed.get("logistic", float("nan")),
        node_down_s=restarted_at - killed_at,
        start_to_3_online_s=online_at - restarted_at,
        kill_to_3_online_s=online_at - killed_at,
        kill_to_all_handled_s=handled_at - killed_at,
    )
    assert (billing_lost, billing_dup) == ([], []), (
        f"billing lost {billing_lost[:10]}, twice {billing_dup[:10]}")
    assert (logistic_lost, logistic_dup) == ([], []), (
        f"logistic lost {logistic_lost[:10]}, twice {logistic_dup[:10]}")
    assert set(watch.at) == {"billing", "logistic"}, (
        f"handling did not resume within {DOWN_MAX:g} s with {node_service} down: {resumed}")
