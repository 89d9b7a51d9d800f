"""Submitting many orders concurrently through the edge, remembering which came back when."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from e2e.clients.edge import Edge


class OrderBurst:
    """``count`` orders POSTed by ``threads`` threads; each retried with its own Idempotency-Key.

    ``ids`` fills as responses arrive; ``ids_since(t)`` are those answered after monotonic ``t``.
    """

    def __init__(self, edge: Edge, count: int, *, threads: int = 16) -> None:
        self.edge, self.count = edge, count
        self.run = uuid.uuid4().hex[:12]
        self.lock = threading.Lock()
        self.answered: list[tuple[float, int]] = []
        self.errors: list[str] = []
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="burst")
        self.futures = [self.pool.submit(self._one, i) for i in range(count)]
        self.started = time.monotonic()

    def _one(self, i: int) -> None:
        try:
            order = self.edge.submit(idempotency_key=f"e2e-{self.run}-{i}", attempts=10)
        except AssertionError as exc:
            with self.lock:
                self.errors.append(str(exc))
            return
        with self.lock:
            self.answered.append((time.monotonic(), int(order["id"])))

    @property
    def ids(self) -> list[int]:
        with self.lock:
            return [i for _, i in self.answered]

    def ids_since(self, t: float) -> list[int]:
        with self.lock:
            return [i for at, i in self.answered if at > t]

    def wait(self, timeout: float) -> list[int]:
        """All ids once every POST returned; fails listing the errors."""
        deadline = time.monotonic() + timeout
        for future in self.futures:
            future.result(timeout=max(0.1, deadline - time.monotonic()))
        self.pool.shutdown()
        self.finished = time.monotonic()
        assert not self.errors, f"{len(self.errors)} POST /orders failed, e.g. {self.errors[:3]}"
        ids = self.ids
        assert len(set(ids)) == self.count, f"{self.count} orders posted, {len(set(ids))} distinct ids"
        return ids


class OrderStream(threading.Thread):
    """A steady stream of orders: one POST every ``interval`` seconds until ``finish()``.

    Each order has its own Idempotency-Key and is retried on errors, so an edge or broker hiccup
    delays an order but never drops or doubles it; ``ids`` are the orders the edge accepted.
    """

    def __init__(self, edge: Edge, *, interval: float = 0.1) -> None:
        super().__init__(daemon=True, name="order-stream")
        self.edge, self.interval = edge, interval
        self.run_id = uuid.uuid4().hex[:12]
        self.lock = threading.Lock()
        self.answered: list[tuple[float, int]] = []
        self.errors: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        i = 0
        next_at = time.monotonic()
        while not self.stopping.is_set():
            try:
                order = self.edge.submit(idempotency_key=f"e2e-stream-{self.run_id}-{i}", attempts=10)
            except AssertionError as exc:
                with self.lock:
                    self.errors.append(str(exc))
            else:
                with self.lock:
                    self.answered.append((time.monotonic(), int(order["id"])))
            i += 1
            next_at += self.interval
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    @property
    def ids(self) -> list[int]:
        with self.lock:
            return [i for _, i in self.answered]

    def ids_since(self, t: float) -> list[int]:
        with self.lock:
            return [i for at, i in self.answered if at > t]

    def finish(self, timeout: float = 60) -> list[int]:
        """Stop, and all ids; fails listing the errors."""
        self.stopping.set()
        self.join(timeout)
        assert not self.is_alive(), f"the order stream did not stop within {timeout:g} s"
        assert not self.errors, f"{len(self.errors)} POST /orders failed, e.g. {self.errors[:3]}"
        ids = self.ids
        assert len(set(ids)) == len(ids), "the edge answered one id for two orders"
        return ids
