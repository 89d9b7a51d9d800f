"""A real RabbitMQ for the whole session, and a fresh vhost with the topology for each test."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from kombu import Connection

from event_contracts import Event, RetryPolicy, create_app
from event_contracts.testing import LocalRabbit, TestVhost, topology_vhost, wait_until

pytestmark = pytest.mark.integration


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


def drain(url: str, queue: str, *, expect: int, timeout: float = 10.0) -> list[Any]:
    """Take (and ack) messages from ``queue`` until ``expect`` arrived; fail after ``timeout``."""
    got: list[Any] = []
    with Connection(url) as conn:
        simple = conn.SimpleQueue(queue, no_ack=False, queue_opts={"no_declare": True})

        def take() -> bool:
            while True:
                try:
                    message = simple.get(block=False)
                except simple.Empty:
                    return len(got) >= expect
                message.ack()
                got.append(message)

        wait_until(take, timeout=timeout, what=f"{expect} message(s) in {queue} (got {len(got)})")
        simple.close()
    return got


def queue_depth(url: str, queue: str) -> int:
    with Connection(url) as conn:
        channel = conn.channel()
        _, count, _ = channel.queue_declare(queue=queue, passive=True)
        return int(count)


@contextmanager
def subscribed(event: Event[Any], callback: Callable[..., Any]) -> Iterator[None]:
    event.register_callback(callback)
    try:
        yield
    finally:
        event.unregister_callback(callback)


@contextmanager
def running_worker(vhost: TestVhost, service: str, **settings: Any) -> Iterator[Celery]:
    """The service's real Celery worker (ShopConsumer, its queues) in a thread."""
    settings.setdefault("shop_retry_policy", RetryPolicy(max_retries=2, first_delay=0.2))
    app = create_app(service, broker_urls=[vhost.url(f"{service}-service")],
                     worker_hijack_root_logger=False, **settings)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20,
                      without_heartbeat=True, hostname=f"{service}-service@{uuid.uuid4().hex[:8]}"):
        yield app


class Recorder:
    """Collects what callbacks received, thread-safely, and waits for it."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, message: Any, delivery: Any) -> None:
        with self.lock:
            self.items.append((message, delivery))

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Any]:
        wait_until(lambda: len(self.items) >= count, timeout=timeout,
                   what=f"{count} callback call(s) (got {len(self.items)})")
        return list(self.items)
