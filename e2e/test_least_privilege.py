"""Least privilege, proven as a matrix on the live cluster.

Each service user tries publish, consume and declare on every exchange (the default one routed
by every queue's name) and queue: each outcome must be exactly what the generated permissions say,
and those must match the ownership rule (:mod:`event_contracts.access_matrix`, the rows
event-contracts' integration tests run on one node). It runs in a throwaway vhost with the
generated topology and the service users' permissions (the benchmark's ``bench_vhost``), so no
row ever feeds the shop's queues or its dead-letter queues.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from bench.broker import Management, bench_vhost
from event_contracts.access_matrix import MatrixRun, Probe, check, matrix_ids, probes

from e2e.clients.settings import Settings

ROWS = probes()
_failed: list[str] = []


@pytest.fixture(scope="module")
def matrix(amqp_ok: Settings) -> Iterator[MatrixRun]:
    management = Management(amqp_ok.management_url, amqp_ok.admin_user, amqp_ok.admin_password)
    with bench_vhost(management, amqp_ok.amqp_ports, prefix="least-privilege") as vhost:
        in_vhost = dataclasses.replace(amqp_ok, vhost=quote(vhost.name, safe=""))
        with MatrixRun(in_vhost.amqp_url, admin=amqp_ok.admin_user) as run:
            yield run


@pytest.mark.parametrize("probe", ROWS, ids=matrix_ids(ROWS))
def test_access_is_exactly_what_the_generated_permissions_say(matrix: MatrixRun, probe: Probe) -> None:
    problems = check(probe, matrix.run(probe))
    if problems:
        _failed.append(probe.id)
    assert problems == []


def test_nobody_may_publish_through_the_default_exchange(record) -> None:
    """The row the issue was about is in the matrix, and refused for every user."""
    default = [row for row in ROWS if row.action == "publish" and row.resource == ""]
    assert any(r.user == "billing-service" and r.routing_key == "logistic.order" for r in default)
    assert [r.id for r in default if r.granted] == []
    record(rows=len(ROWS), granted=sum(r.granted for r in ROWS), failed_rows=len(_failed))
