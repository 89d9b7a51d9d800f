"""The resume job behind a backlog: a shipment whose chain is merely queued is never resumed.

The job travels through logistic.internal like the chain's steps. When that queue has a backlog,
the job waits in it too, and the shipments whose steps are queued behind the job can have been
idle longer than the resume threshold by the time the job runs, although nothing is lost.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Celery
from celery.beat import BeatLazyFunc
from celery.signals import before_task_publish
from event_contracts import Publisher
from event_contracts.testing import TestVhost, queue_depth, running_worker, wait_until
from sqlalchemy import select

from logistic_service.adapters import orm
from logistic_service.adapters.pipeline import PICK, RESUME_STUCK_SHIPMENTS
from logistic_service.settings import Settings

from .conftest import Database, TaskLog, an_order, unique_order_id

pytestmark = pytest.mark.integration

INTERNAL = "logistic.internal"
THRESHOLD = timedelta(seconds=2)


class ChainStarts:
    """How many chains were published per shipment in this process (a chain starts with pick)."""

    def __init__(self) -> None:
        self.per_shipment: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, headers: dict[str, Any] | None = None, body: Any = None, **_: Any) -> None:
        if (headers or {}).get("task") == PICK:
            _, kwargs, _ = body
            with self.lock:
                self.per_shipment[kwargs["shipment_id"]] += 1


def beat_kwargs(app: Celery) -> dict[str, Any]:
    """The job's keyword arguments as beat sends them (lazy values evaluated at sending)."""
    [entry] = app.conf.beat_schedule.values()
    kwargs = entry.get("kwargs") or {}
    return {k: v() if isinstance(v, BeatLazyFunc) else v for k, v in kwargs.items()}


def row_version(db: Database, order_id: int) -> int:
    """The row's optimistic-lock version: one per write (a resume is a write of its own)."""
    table = orm.shipments
    with db.engine.connect() as conn:
        return int(
            conn.execute(select(table.c.version).where(table.c.order_id == order_id)).scalar_one()
        )


@pytest.fixture
def chain_starts() -> Iterator[ChainStarts]:
    starts = ChainStarts()
    before_task_publish.connect(starts, weak=False)
    yield starts
    before_task_publish.disconnect(starts)


def test_the_resume_job_never_restarts_a_chain_queued_behind_a_backlog(
    vhost: TestVhost,
    *,
    database_url: str,
    make_logistic_app: Callable[..., Celery],
    order_publisher: Publisher,
    db: Database,
    finished_tasks: TaskLog,
    chain_starts: ChainStarts,
) -> None:
    settings = Settings(database_url=database_url, resume_idle_seconds=THRESHOLD.total_seconds())
    order_ids = [unique_order_id() for _ in range(3)]

    # 1. beat sends the job into logistic.internal; nobody takes that queue yet
    sender = make_logistic_app(settings=settings)
    sender.send_task(RESUME_STUCK_SHIPMENTS, kwargs=beat_kwargs(sender))
    # 2. a worker that only takes events creates shipments: their chains queue behind the job
    events_only = make_logistic_app(settings=settings)
    events_only.amqp.queues.deselect(INTERNAL)
    with running_worker(vhost, "logistic", app=events_only):
        for order_id in order_ids:
            an_order(order_id).submit(publisher=order_publisher)
        for order_id in order_ids:
            db.wait_for_status(order_id, "created")
        wait_until(
            lambda: queue_depth(vhost.url(), INTERNAL) == 1 + len(order_ids),
            timeout=10,
            what="the job and each chain's pick step in logistic.internal",
        )
    created = [db.shipment(order_id) for order_id in order_ids]
    newest = max(s.updated_at for s in created if s is not None)
    # 3. the backlog grows older than the threshold (the database's clock, not a sleep)
    wait_until(
        lambda: datetime.now(UTC) - newest.replace(tzinfo=newest.tzinfo or UTC) > THRESHOLD,
        timeout=10,
        what=f"the shipments to be idle longer than {THRESHOLD}",
    )

    # 4. the full worker takes the job first, then the chains
    with running_worker(vhost, "logistic", app=make_logistic_app(settings=settings)):
        for order_id in order_ids:
            db.wait_for_status(order_id, "dispatched")
        finished_tasks.wait_for(RESUME_STUCK_SHIPMENTS)

    assert finished_tasks.names.index(RESUME_STUCK_SHIPMENTS) < finished_tasks.names.index(PICK)
    shipments = [db.shipment(order_id) for order_id in order_ids]
    assert all(s is not None for s in shipments)
    # one chain each, and the database never saw a resume: created, picked, packed, dispatched
    assert {s.shipment_id: chain_starts.per_shipment[s.shipment_id] for s in shipments if s} == {
        s.shipment_id: 1 for s in shipments if s
    }
    assert [row_version(db, order_id) for order_id in order_ids] == [4] * len(order_ids)
