"""pytest fixtures for integration tests, loaded wherever event-contracts is installed.

``rabbit``: one real RabbitMQ node for the session (a container of ``$SHOP_TEST_RABBITMQ_IMAGE``
on a free loopback port); ``vhost``: a fresh vhost per test with the generated topology and
least-privilege users.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from event_contracts.testing import LocalRabbit, TestVhost, topology_vhost


@pytest.fixture(scope="session")
def rabbit() -> Iterator[LocalRabbit]:
    node = LocalRabbit()
    node.start()
    yield node
    node.stop()


@pytest.fixture
def vhost(rabbit: LocalRabbit) -> Iterator[TestVhost]:
    with topology_vhost(rabbit) as fresh:
        yield fresh
