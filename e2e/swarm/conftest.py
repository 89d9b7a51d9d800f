"""Fixtures of the Swarm scenarios: the stack's task containers and services instead of compose's.

``E2E_SWARM_STACK`` names the stack (``make swarm-e2e`` sets it); the endpoints are the same
variables as for compose (the stack publishes the same ports).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator

import pytest

from e2e.clients.containers import SwarmContainers
from e2e.clients.databases import Databases

# Celery's worker log line for a task it ran: "Task <name>[<task id>] succeeded in <s>s: ...".
# A service's task id is ``<event id>.<service>`` (event_contracts.runtime.consumer.ServiceRequest).
SUCCEEDED = re.compile(r"Task \S+\[(?P<id>[0-9a-f-]{36})(\.[a-z-]+)?\] succeeded in ")


@pytest.fixture(scope="session")
def containers() -> SwarmContainers:
    return SwarmContainers(os.environ["E2E_SWARM_STACK"])


@pytest.fixture(scope="module")
def billing_three(containers: SwarmContainers) -> Iterator[list[str]]:
    """billing-service scaled to 3 replicas for the module, back to 1 afterwards."""
    containers.scale("billing-service", 3)
    yield containers.of("billing-service")
    containers.scale("billing-service", 1)


def invoice_event_ids(dbs: Databases, order_ids: list[int]) -> dict[str, int]:
    """Submit event id (= the Celery task id billing ran) → order id, for invoiced orders."""
    return {
        str(event_id): order_id
        for order_id, event_id in dbs.billing.rows(
            "SELECT order_id, event_id FROM journal_entries WHERE kind = 'invoice' AND order_id = ANY(%s)",
            (order_ids,),
        )
    }


def succeeded_task_ids(containers: SwarmContainers, name: str) -> set[str]:
    """Task ids a worker container logged as succeeded: its own record of what it handled."""
    # Celery logs to stderr, which `docker logs` replays on its own stderr: read both streams.
    logs = subprocess.run(
        ["docker", "logs", name],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {m["id"] for m in SUCCEEDED.finditer(logs)}
