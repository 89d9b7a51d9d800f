"""A RabbitMQ task's container killed on Swarm under load: nothing lost or doubled, and Swarm
replaces the task by itself (a new container of the same service, healthy, on its labelled node
with its volume), after which every quorum queue has its three members online again."""

from __future__ import annotations

import os
import time

import pytest

from e2e.clients.broker_admin import BrokerAdmin
from e2e.clients.containers import SwarmContainers
from e2e.clients.databases import Databases, exactly_once
from e2e.clients.edge import Edge
from e2e.clients.load import OrderBurst
from e2e.clients.waits import wait_until

ORDERS = int(os.environ.get("E2E_SWARM_HA_ORDERS", "400"))
HANDLE_TIMEOUT = float(os.environ.get("E2E_SWARM_HANDLE_TIMEOUT", "300"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def test_killed_broker_task_is_replaced_and_nothing_is_lost(
    edge: Edge, broker: BrokerAdmin, dbs: Databases, containers: SwarmContainers, record
) -> None:
    broker.wait_all_online(timeout=120)
    leader = broker.leader("billing.order")
    node_service = leader.split("@", 1)[1]  # rabbit@rabbitN runs in stack service rabbitN
    (victim,) = containers.of(node_service)
    victim_id = containers.container_id(victim)

    burst = OrderBurst(edge, ORDERS)
    wait_until(
        lambda: len(burst.ids) >= ORDERS // 4,
        timeout=120,
        what=f"a quarter of the {ORDERS} orders to be accepted before the kill",
        describe=lambda: f"{len(burst.ids)} accepted, errors {burst.errors[:2]}",
    )
    containers.kill(victim)
    killed_at = time.monotonic()

    def replaced() -> str:
        (name,) = containers.of(node_service)
        healthy = containers.container_id(name) != victim_id and containers.health(name) == "healthy"
        return name if healthy else ""

    ids = burst.wait(timeout=300)
    replacement = wait_until(
        replaced, timeout=240, interval=1, what=f"Swarm to replace the killed {node_service} task, healthy"
    )
    replaced_at = time.monotonic()
    broker.wait_all_online(timeout=240)
    online_at = time.monotonic()

    billing, logistic = dbs.wait_handled(ids, timeout=HANDLE_TIMEOUT)
    dbs.wait_statuses(ids, "dispatched", timeout=HANDLE_TIMEOUT)
    billing_lost, billing_dup = exactly_once(ids, billing)
    logistic_lost, logistic_dup = exactly_once(ids, logistic)
    record(
        orders=len(ids),
        node=node_service,
        replacement=replacement,
        kill_to_replaced_healthy_s=replaced_at - killed_at,
        kill_to_3_online_s=online_at - killed_at,
        lost=len(billing_lost) + len(logistic_lost),
        duplicated=len(billing_dup) + len(logistic_dup),
    )
    assert (billing_lost, billing_dup) == ([], []), (
        f"billing lost {billing_lost[:10]}, twice {billing_dup[:10]}"
    )
    assert (logistic_lost, logistic_dup) == ([], []), (
        f"logistic lost {logistic_lost[:10]}, twice {logistic_dup[:10]}"
    )
