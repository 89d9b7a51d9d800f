"""A real RabbitMQ for the whole session, and a fresh vhost with the topology for each test."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from event_contracts.testing import (
    drain,
    queue_depth,
    running_worker,
    subscribed,
    wait_until,
)

__all__ = ["drain", "queue_depth", "running_worker", "subscribed"]

pytestmark = pytest.mark.integration


class Recorder:
    """Collects what callbacks received, thread-safely, and waits for it."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, message: Any, delivery: Any) -> None:
        with self.lock:
            self.items.append((message, delivery))

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Any]:
        wait_until(
            lambda: len(self.items) >= count,
            timeout=timeout,
            what=f"{count} callback call(s) (got {len(self.items)})",
        )
        return list(self.items)
