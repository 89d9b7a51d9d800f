"""The relay's view of its outbox as Prometheus gauges, sampled in a thread of its own.

``shop_outbox_backlog_rows``, ``shop_outbox_oldest_unpublished_age_seconds`` and
``shop_outbox_parked_rows`` (the alerts' contract: infra/README.md, "Prometheus") come from the
table, not from the relay's loop: a relay stuck in a publish or backing off keeps reporting a
growing age, which is what ``OutboxFallingBehind`` is for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from event_contracts.service_defaults import metrics

from order_service.service_layer.ports import OutboxStore

log = logging.getLogger(__name__)


class OutboxSampler:
    def __init__(
        self,
        store: OutboxStore,
        *,
        every: float = 5.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store, self.every, self.now = store, every, now
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def sample(self) -> None:
        """Read the backlog once and set the gauges."""
        backlog = self.store.backlog()
        since = backlog.oldest_waiting_since
        age = (self.now() - since).total_seconds() if since is not None else 0.0
        metrics.set_outbox(backlog.unpublished, age, backlog.parked)

    def loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.sample()
            except Exception as exc:  # the database is away: the gauges keep their last values
                log.warning("outbox metrics: could not read the outbox: %s", exc)
            self.stopping.wait(self.every)

    def start(self) -> None:
        self.thread = threading.Thread(target=self.loop, name="outbox-metrics", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
