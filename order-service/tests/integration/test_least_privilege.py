"""Least privilege on a real broker: the service's user can do exactly what the generated
permissions say, and those match the ownership rule (event_contracts.access_matrix's rows for
this user: publish on every exchange, consume every queue, declare every exchange and queue)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from event_contracts.access_matrix import MatrixRun, Probe, check, matrix_ids, probes, reply_queues
from event_contracts.testing import LocalRabbit, topology_vhost

from order_service.topology import SERVICE, TOPOLOGY

pytestmark = pytest.mark.integration
ROWS = [row for row in probes(TOPOLOGY) if row.user == SERVICE.user]


@pytest.fixture(scope="module")
def matrix(rabbit: LocalRabbit) -> Iterator[MatrixRun]:
    with (
        topology_vhost(rabbit, TOPOLOGY) as vhost,
        MatrixRun(vhost.url, admin="admin", topology=TOPOLOGY) as run,
    ):
        yield run


def test_it_may_read_only_its_own_queues() -> None:
    """Its workers' queues, and its own reply queue when it calls another service."""
    readable = {row.resource for row in ROWS if row.action == "consume" and row.granted}
    own_replies = {reply_queues(TOPOLOGY)[SERVICE.name]} if SERVICE.calls else set()
    assert readable == set(TOPOLOGY.worker_queues(SERVICE.name)) | own_replies


@pytest.mark.parametrize("probe", ROWS, ids=matrix_ids(ROWS))
def test_access_is_exactly_what_the_generated_permissions_say(
    matrix: MatrixRun, probe: Probe
) -> None:
    assert check(probe, matrix.run(probe)) == []
