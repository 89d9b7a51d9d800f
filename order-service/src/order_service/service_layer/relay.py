"""The outbox relay: publish committed events in order, mark them published, never lose one.

One loop::

    claim ≤ batch_size rows that may go now ─▶ split into lanes by order id; each lane
    (id order; not parked, retry time come,    publishes its rows in order (confirmed,
     every earlier event of the order out)     mandatory) on its own connection
          │                                    ├─ ok: mark published
          │                                    ├─ the broker refused the row (unroutable,
          │                                    │  rejected): attempts+1, last_error; retry it
          │                                    │  later (RetryPolicy), or park it after the
          │                                    │  last retry; its order's later rows wait,
          │                                    │  the lane goes on with other orders
          │                                    └─ the broker is unreachable: note the error,
          │                                       stop that lane, back off 0.5 → 10 s
          └─ nothing claimed: wait for a NOTIFY (PostgreSQL) or the poll interval

A row is marked only after the broker confirmed it, so an outage loses nothing. A crash between
the confirm and the mark publishes the row again under the SAME event id, which consumers drop
(they dedupe by event id): at-least-once on the wire, exactly-once in effect. An order's rows
go out in id order, and a row that failed holds back the later rows of its order only, so an
order's chargeback never overtakes its submit and one bad row never stalls the other orders.
A parked row is kept (with its last error and attempts) until an operator requeues it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import attrs
from event_contracts import RetryPolicy
from event_contracts.service_defaults import tracing

from order_service.service_layer.ports import OutboxRow, OutboxStore, PayloadPublisher

log = logging.getLogger(__name__)

PURGE_EVERY = 600.0


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
    """The broker (or the database) could not be reached: the whole relay backs off."""
    claimed: int = 0
    refused: int = 0
    parked: int = 0


ROW_RETRIES = RetryPolicy(max_retries=8, first_delay=1.0, max_delay=60.0)
"""A refused row is tried 9 times over ~3 minutes (1, 2, 4 … 60 s apart), then parked."""


@attrs.define
class LaneResult:
    published: list[OutboxRow] = attrs.field(factory=list)
    refused: list[tuple[OutboxRow, BaseException]] = attrs.field(factory=list)
    unreachable: tuple[OutboxRow, BaseException] | None = None


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
    row_retries: RetryPolicy = ROW_RETRIES
    """How often and how far apart a row the broker refuses is tried before it is parked."""
    on_publish: Callable[[str, float], None] = lambda outcome, seconds: None
    """Told each publish's outcome (``published``, ``refused``, ``unreachable``) and seconds."""
    unreachable_errors: tuple[type[BaseException], ...] = (OSError,)
    """A publish error of these types (or caused by one) means the broker could not be
    reached, which is no fault of the row: the relay backs off as a whole and the row keeps
    its attempts. Any other error is the row's own (unroutable, refused by the broker)."""
    # counters, for logs and tests
    rounds: int = 0
    published_total: int = 0
    parked_total: int = 0
    broker_ok: bool = False
    purged_at: float = 0.0

    def run_once(self) -> Outcome:
        """One batch: each lane publishes its rows; a refused row holds back its order only, an
        unreachable broker stops the lane. The marks are saved when the claim ends."""
        published, refused, error = 0, 0, None
        parked: list[tuple[OutboxRow, BaseException]] = []
        with self.store.claim(self.batch_size) as batch:
            lanes = self._lanes(batch.rows)
            if len(lanes) > 1:
                results = list(self._executor().map(self._publish_lane, lanes))
            else:
                results = [self._publish_lane(lane) for lane in lanes]
            for result in results:
                for row in result.published:
                    batch.mark_published(row)
                published += len(result.published)
                for row, exc in result.refused:
                    retry_in = self._retry_in(row)
                    batch.mark_refused(row, exc, retry_in)
                    if retry_in is None:
                        parked.append((row, exc))
                    else:
                        _log_refusal(row, exc, retry_in)
                refused += len(result.refused)
                if result.unreachable is not None:
                    batch.mark_failed(*result.unreachable)
                    error = error or result.unreachable[1]
        for row, exc in parked:  # saved: now say so
            _log_parked(row, exc)
        self.parked_total += len(parked)
        return Outcome(published, error, len(batch.rows), refused, len(parked))

    def _retry_in(self, row: OutboxRow) -> float | None:
        """Seconds until the refused row's next try; None: it had its last one, park it."""
        if row.attempts >= self.row_retries.max_retries:
            return None
        return self.row_retries.delay(row.attempts)

    def _lanes(self, rows: list[OutboxRow]) -> list[list[OutboxRow]]:
        """Rows split by order id: one order's events stay in one lane, in id order."""
        lanes: list[list[OutboxRow]] = [[] for _ in range(max(1, self.publishers))]
        for row in rows:
            lanes[_order_key(row) % len(lanes)].append(row)
        return [lane for lane in lanes if lane]

    def _publish_lane(self, rows: list[OutboxRow]) -> LaneResult:
        result, held = LaneResult(), set()
        for row in rows:
            if _order_key(row) in held:  # an earlier event of its order failed: it waits
                continue
            started = time.perf_counter()
            try:
                with tracing.continued(row.trace_context):  # the publish joins the request's trace
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
                if self._unreachable(exc):
                    self.on_publish("unreachable", time.perf_counter() - started)
                    result.unreachable = (row, exc)
                    return result
                self.on_publish("refused", time.perf_counter() - started)
                result.refused.append((row, exc))
                held.add(_order_key(row))
                continue
            self.on_publish("published", time.perf_counter() - started)
            result.published.append(row)
        return result

    def _unreachable(self, exc: BaseException) -> bool:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, self.unreachable_errors):
                return True
            cause = cause.__cause__
        return False

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
            if outcome.claimed == 0:  # else more may be waiting: claim again at once
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


def _order_key(row: OutboxRow) -> int:
    """The order the row is about (its lane, and what a failure holds back)."""
    key = row.payload.get("id")
    return key if isinstance(key, int) else row.id


def _log_refusal(row: OutboxRow, exc: BaseException, retry_in: float) -> None:
    log.warning(
        "outbox relay: row %d (%s, order %s, event %s) refused on attempt %d: %s; "
        "its order's later events wait; retrying in %.1f s",
        row.id,
        row.routing_key,
        row.payload.get("id"),
        row.event_id,
        row.attempts + 1,
        exc,
        retry_in,
        extra=_row_fields(row),
    )


def _log_parked(row: OutboxRow, exc: BaseException) -> None:
    log.error(
        "outbox relay: PARKED row %d (%s, order %s, event %s) after %d attempts: %s; it and "
        "its order's later events wait for `order-service-outbox requeue --row %d`",
        row.id,
        row.routing_key,
        row.payload.get("id"),
        row.event_id,
        row.attempts + 1,
        exc,
        row.id,
        extra=_row_fields(row),
    )


def _row_fields(row: OutboxRow) -> dict[str, str]:
    """The row's ids as the log fields a consumer's lines about the event carry (order, event,
    correlation and trace id), so one search finds the relay's lines with the others'."""
    traceparent = (row.trace_context or {}).get("traceparent", "").split("-")
    fields = {
        "order_id": str(row.payload.get("id") or ""),
        "event_id": str(row.event_id),
        "correlation_id": row.correlation_id or str(row.event_id),  # as the publisher sends it
        "trace_id": traceparent[1] if len(traceparent) == 4 else "",
    }
    return {name: value for name, value in fields.items() if value}
