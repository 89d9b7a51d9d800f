"""Each service user tries publish, consume and declare on every exchange and queue, on one node.

The rows come from the topology (:mod:`event_contracts.access_matrix`); the e2e suite runs the
same rows against the live cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from event_contracts.access_matrix import MatrixRun, Probe, check, matrix_ids, probes
from event_contracts.testing import LocalRabbit, topology_vhost

pytestmark = pytest.mark.integration
ROWS = probes()


@pytest.fixture(scope="module")
def matrix(rabbit: LocalRabbit) -> Iterator[MatrixRun]:
    with topology_vhost(rabbit) as vhost, MatrixRun(vhost.url, admin="admin") as run:
        yield run


def test_the_matrix_covers_the_default_exchange_for_every_queue() -> None:
    queues = {row.resource for row in ROWS if row.action == "consume"}
    default = {row.routing_key for row in ROWS if row.action == "publish" and row.resource == ""}
    assert default == queues and "logistic.order" in queues
    assert {row.user for row in ROWS} == {"order-service", "billing-service", "logistic-service"}


@pytest.mark.parametrize("probe", ROWS, ids=matrix_ids(ROWS))
def test_access_is_exactly_what_the_generated_permissions_say(matrix: MatrixRun, probe: Probe) -> None:
    assert check(probe, matrix.run(probe)) == []
