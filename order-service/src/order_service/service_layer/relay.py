"""The outbox relay: publish committed events in order, mark them published, never lose one.

One loop::

    claim ≤ batch_size unpublished rows (id order) ─▶ split into lanes by order id; each lane
          │                                            publishes its rows in order (confirmed,
          │                                            mandatory) on its own connection
          │                                            ├─ ok: mark published
          │                                            └─ error: record attempts/last_error,
          │                                               stop that lane, back off 0.5 → 10 s
          └─ nothing claimed: wait for a NOTIFY (PostgreSQL) or the poll interval

A row is marked only after the broker confirmed it, so an outage loses nothing. A crash between
the confirm and the mark publishes the row again under the SAME event id, which consumers drop
(they dedupe by event id): at-least-once on the wire, exactly-once in effect. An order's rows
go out in id order through one lane and a failure stops that lane, so an order's chargeback
never overtakes its submit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

import attrs

from order_service.adapters.outbox import OutboxRow, OutboxStore

log = logging.getLogger(__name__)

PURGE_EVERY = 600.0


class PayloadPublisher(Protocol):
    """``event_contracts.Publisher`` as the relay uses it."""

    def publish_payload(
        self,
        routing_key: str,
        exchange: str,
        payload: Mapping[str, Any],
        *,
        event_id: UUID,
        correlation_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
        occurred_at: str | None = None,
    ) -> None: ...


@attrs.define
class Backoff:
    """``start`` seconds, doubling on each consecutive failure up to ``limit``."""

    start: float = 0.5
    limit: float = 10.0
    failures: int = 0

    def next_delay(self) -> float:
        delay = min(self.limit, self.start * 2.0**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


@attrs.frozen
class Outcome:
    published: int
    error: BaseException | None = None


@attrs.define
class Relay:
    store: OutboxStore
    publisher: PayloadPublisher
    batch_size: int = 100
    poll_interval: float = 0.2
    backoff: Backoff = attrs.field(factory=Backoff)
    wait_for_work: Callable[[float], None] | None = None
    """Blocks until new rows may exist or ``timeout`` passes (LISTEN/NOTIFY); None: sleep."""
    heartbeat: Callable[[], None] = lambda: None
    broker_check: Callable[[], None] | None = None
    """Raises when the broker is unreachable: tried (fast) before publishing after a failure,
    so an outage is retried on this relay's backoff instead of inside every publish call
    (a publish retries for ~30 s itself before giving up)."""
    stopping: threading.Event = attrs.field(factory=threading.Event)
    publishers: int = 1
    """Publish lanes. A confirmed publish waits for the broker's ack (~2-5 ms, more on a
    replicated quorum queue), so one lane caps the relay at a few hundred events/s; rows are
    split into lanes by order id, each lane publishing in id order on its own connection."""
    pool: ThreadPoolExecutor | None = None
    retention: timedelta | None = timedelta(days=7)
    """Published rows older than this are deleted (checked every ``PURGE_EVERY``); None: kept."""
    # counters, for logs and tests
    rounds: int = 0
    published_total: int = 0
    broker_ok: bool = False
    purged_at: float = 0.0

    def run_once(self) -> Outcome:
        """One batch: each lane publishes until done or its first failure; marks are saved."""
        published, error = 0, None
        with self.store.claim(self.batch_size) as batch:
            lanes = self._lanes(batch.rows)
            if len(lanes) > 1:
                results = list(self._executor().map(self._publish_lane, lanes))
            else:
                results = [self._publish_lane(lane) for lane in lanes]
            for done, failure in results:
                for row in done:
                    batch.mark_published(row)
                published += len(done)
                if failure is not None:
                    batch.mark_failed(*failure)
                    error = error or failure[1]
        return Outcome(published, error)

    def _lanes(self, rows: list[OutboxRow]) -> list[list[OutboxRow]]:
        """Rows split by order id: one order's events stay in one lane, in id order."""
        lanes: list[list[OutboxRow]] = [[] for _ in range(max(1, self.publishers))]
        for row in rows:
            key = row.payload.get("id")
            lanes[(key if isinstance(key, int) else row.id) % len(lanes)].append(row)
        return [lane for lane in lanes if lane]

    def _publish_lane(
        self,
        rows: list[OutboxRow],
    ) -> tuple[list[OutboxRow], tuple[OutboxRow, BaseException] | None]:
        done: list[OutboxRow] = []
        for row in rows:
            try:
                self.publisher.publish_payload(
                    row.routing_key,
                    row.exchange,
                    row.payload,
                    event_id=row.event_id,
                    correlation_id=row.correlation_id,
                    headers=row.actor_headers or None,
                    occurred_at=str(row.payload.get("occurred_at") or "") or None,
                )
            except Exception as exc:
                return done, (row, exc)
            done.append(row)
        return done, None

    def _executor(self) -> ThreadPoolExecutor:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.publishers, thread_name_prefix="relay-lane")
        return self.pool

    def run(self) -> None:
        """Loop until :meth:`stop`; database and broker errors are logged and retried."""
        log.info(
            "outbox relay started (batch %d, %d lane(s), poll every %.2f s)",
            self.batch_size,
            self.publishers,
            self.poll_interval,
        )
        while not self.stopping.is_set():
            self.heartbeat()
            self.rounds += 1
            try:
                self._check_broker()
                outcome = self.run_once()
            except Exception as exc:  # the broker check or the database failed: same backoff
                outcome = Outcome(0, exc)
            self.published_total += outcome.published
            if outcome.error is not None:
                self.broker_ok = False
                delay = self.backoff.next_delay()
                log.warning(
                    "outbox relay: %s (published %d before it); retrying in %.1f s",
                    outcome.error,
                    outcome.published,
                    delay,
                )
                self.stopping.wait(delay)
                continue
            if self.backoff.failures:
                log.info(
                    "outbox relay: publishing again after %d failed round(s)", self.backoff.failures
                )
                self.backoff.reset()
            if outcome.published:
                log.debug("outbox relay: published %d", outcome.published)
            if outcome.published == 0:  # else more may be waiting: claim again at once
                self._housekeeping()
                self._idle()
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
        log.info("outbox relay stopped (%d published)", self.published_total)

    def _housekeeping(self) -> None:
        if self.retention is None or time.monotonic() - self.purged_at < PURGE_EVERY:
            return
        self.purged_at = time.monotonic()
        try:
            purged = self.store.purge(datetime.now(UTC) - self.retention)
        except Exception:
            log.exception("outbox relay: purging published rows failed (retrying later)")
            return
        if purged:
            log.info(
                "outbox relay: deleted %d rows published more than %s ago", purged, self.retention
            )

    def _check_broker(self) -> None:
        if self.broker_check is not None and not self.broker_ok:
            self.broker_check()
        self.broker_ok = True

    def _idle(self) -> None:
        if self.wait_for_work is not None:
            self.wait_for_work(self.poll_interval)
        else:
            self.stopping.wait(self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
