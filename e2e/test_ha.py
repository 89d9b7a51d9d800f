"""The RabbitMQ node leading the consumer queues is killed while 1,000 orders are
submitted through the edge, and started again later. Every order is handled exactly once by
billing and by logistic (each order's event let through once by each inbox), and every quorum
queue gets back to 3 online members.

Recovery times (printed): kill → billing and logistic handle orders again (see ResumeWatch), the
longest pause in their progress, node start → every quorum queue has 3 online members again
(the node is started once handling has resumed without it, or after ``E2E_HA_DOWN_MAX`` s).
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
RESUMED_AFTER = int(os.environ.get("E2E_HA_RESUMED_AFTER", "20"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


class ResumeWatch(threading.Thread):
    """Follows how many of the burst's orders billing and logistic have handled, from the kill on.

    Handling counts as resumed once a service has handled ``RESUMED_AFTER`` more orders than at
    the kill: more than its workers' prefetch windows could have held when the node died, so
    those were delivered by the surviving nodes. ``longest_pause`` is the longest time without
    progress while orders were still waiting.
    """

    def __init__(self, burst: OrderBurst, dbs: Databases, killed_at: float) -> None:
        super().__init__(daemon=True, name="resume-watch")
        self.burst, self.dbs, self.killed_at = burst, dbs, killed_at
        self.timeline: dict[str, list[tuple[float, int]]] = {"billing": [], "logistic": []}
        self.at: dict[str, float] = {}
        self.resumed = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        counters = {"billing": self.dbs.journal_counts, "logistic": self.dbs.shipment_counts}
        while not self.stop.is_set():
            ids = self.burst.ids
            for name, count in counters.items():
                try:
                    handled = len(count(ids))
                except Exception:  # noqa: BLE001 - the database is not what is being killed
                    continue
                now = time.monotonic()
                line = self.timeline[name]
                line.append((now, handled))
                if name not in self.at and handled >= line[0][1] + RESUMED_AFTER:
                    self.at[name] = now
            if len(self.at) == 2:
                self.resumed.set()
            self.stop.wait(0.25)

    def longest_pause(self, name: str, total: int) -> float:
        """Longest stretch without a newly handled order while some were still unhandled."""
        longest, since = 0.0, self.killed_at
        last = None
        for at, handled in self.timeline[name]:
            if last is not None and handled > last:
                since = at
            if handled < total:
                longest = max(longest, at - since)
            last = handled
        return longest


def test_leader_node_killed_under_load(
    edge: Edge, broker: BrokerAdmin, dbs: Databases, containers: Containers, record
) -> None:
    broker.wait_all_online(timeout=120)
    leader = broker.leader("billing.order")
    node_service = leader.split("@", 1)[1]  # node rabbit@rabbitN runs in compose service rabbitN
    (node,) = containers.of(node_service)
    print(f"killing {node} ({leader}, leader of billing.order) during {ORDERS} orders")

    burst = OrderBurst(edge, ORDERS)
    watch: ResumeWatch | None = None
    restarted_at = None
    try:
        wait_until(
            lambda: len(burst.ids) >= ORDERS // 4,
            timeout=120,
            what=f"a quarter of the {ORDERS} orders to be accepted before the kill",
            describe=lambda: f"{len(burst.ids)} accepted, errors {burst.errors[:2]}",
        )
        containers.kill(node)
        killed_at = time.monotonic()
        watch = ResumeWatch(burst, dbs, killed_at)
        watch.start()

        ids = burst.wait(timeout=300)
        accepted_at = burst.finished
        watch.resumed.wait(timeout=max(0.0, DOWN_MAX - (time.monotonic() - killed_at)))
        assert containers.state(node) != "running", f"{node} came back before we started it"
    except BaseException:
        if watch is not None:
            watch.stop.set()
        raise
    finally:
        containers.ensure_running(node)
        restarted_at = time.monotonic()
    containers.wait_running(node, timeout=180)
    broker.wait_all_online(timeout=180)
    online_at = time.monotonic()

    try:
        dbs.wait_handled(ids, timeout=HANDLE_TIMEOUT)
    finally:
        if watch is not None:
            watch.stop.set()
    handled_at = time.monotonic()
    # Logistic's pick/pack/dispatch chain and order-service's facts finish too: the next
    # scenario (or run) starts on a quiet stack, and every order ends dispatched.
    dbs.wait_statuses(ids, "dispatched", timeout=HANDLE_TIMEOUT)
    dispatched_at = time.monotonic()
    # Per event id, what the inboxes let through: the effects' own tables cannot hold a second
    # invoice or shipment of an order (unique keys), so only this count can show a duplicate.
    billing_lost, billing_dup = exactly_once(ids, dbs.invoice_admissions(ids))
    logistic_lost, logistic_dup = exactly_once(ids, dbs.shipment_admissions(ids))
    resumed = {k: v - killed_at for k, v in watch.at.items()}
    record(
        orders=len(ids),
        node=node_service,
        lost=len(billing_lost) + len(logistic_lost),
        duplicated=len(billing_dup) + len(logistic_dup),
        submit_s=accepted_at - burst.started,
        kill_to_billing_resumed_s=resumed.get("billing", float("nan")),
        kill_to_logistic_resumed_s=resumed.get("logistic", float("nan")),
        billing_longest_pause_s=watch.longest_pause("billing", len(ids)),
        logistic_longest_pause_s=watch.longest_pause("logistic", len(ids)),
        node_down_s=restarted_at - killed_at,
        start_to_3_online_s=online_at - restarted_at,
        kill_to_3_online_s=online_at - killed_at,
        kill_to_all_handled_s=handled_at - killed_at,
        kill_to_all_dispatched_s=dispatched_at - killed_at,
    )
    assert (billing_lost, billing_dup) == ([], []), (
        f"billing lost {billing_lost[:10]}, twice {billing_dup[:10]}"
    )
    assert (logistic_lost, logistic_dup) == ([], []), (
        f"logistic lost {logistic_lost[:10]}, twice {logistic_dup[:10]}"
    )
    resumed_while_down = {name for name, at in watch.at.items() if at < restarted_at}
    assert resumed_while_down == {"billing", "logistic"}, (
        f"handling did not resume within {DOWN_MAX:g} s with {node_service} down: {resumed}"
    )
