"""The logistic worker's Celery app: what it consumes, its own tasks and its one periodic job.

::

    [order] ─order.*.submit─────▶ logistic.order ──▶ ship_order ──(after commit)──┐
            ─order.*.chargeback─▶                ──▶ charge_back ─┐               │ chain
                                                                  │               ▼
    beat, every 30 s ──▶ [logistic.internal] ──▶ logistic.internal ──▶ pick ▶ pack ▶ dispatch
      (resume_stuck_shipments: restarts lost chains)              │                     │
                                                                  ▼                     ▼
        [logistic] ◀── logistic.v1.shipment_cancelled / _returned    logistic.v1.shipment_dispatched
            └──▶ order.logistic (order-service)

The worker's main process also purges the inbox every ``INBOX_PURGE_EVERY_SECONDS`` (a timer
of its own, ``event_contracts.runtime.add_periodic_job``, not a beat job: it needs no message and
no queue, and every replica deleting old rows is harmless).

Callbacks are registered on the app's own registry (``subscriptions_of(app)``, by
:func:`~logistic_service.entrypoints.consumers.subscribe`) with the handlers wired for that
app, so several apps in one process (tests) never share a database by accident.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from celery import Celery
from celery.beat import BeatLazyFunc
from event_contracts import PoisonMessage, Publisher
from event_contracts import create_app as create_service_app
from event_contracts.contrib.sqlalchemy import purge_inbox
from event_contracts.runtime import ServiceTask, add_periodic_job, subscriptions_of
from event_contracts.service_defaults.database import dispose_in_forked_children
from event_contracts.service_defaults.dead_letters import refusing

from logistic_service.adapters import database, orm
from logistic_service.adapters.pipeline import (
    DISPATCH,
    INTERNAL_QUEUE,
    PACK,
    PICK,
    RESUME_STUCK_SHIPMENTS,
    CeleryPipeline,
)
from logistic_service.adapters.unit_of_work import SqlAlchemyUnitOfWork, session_factory
from logistic_service.bootstrap import Handlers, bootstrap, utc_now
from logistic_service.domain.model import IllegalTransition, UnknownShipment
from logistic_service.entrypoints.consumers import subscribe
from logistic_service.service_layer.handlers import StepOutcome
from logistic_service.service_layer.ports import Clock
from logistic_service.settings import Settings
from logistic_service.topology import NAME, TOPOLOGY

log = logging.getLogger(__name__)

EVENT_QUEUES = tuple(sorted({s.queue for s in TOPOLOGY.subscriptions_of(NAME)}))
"""Where new work comes in (logistic.order); the chains' steps are in INTERNAL_QUEUE."""


def create_app(
    *,
    settings: Settings | None = None,
    broker_urls: Sequence[str] | None = None,
    clock: Clock = utc_now,
    **celery_settings: Any,
) -> Celery:
    """The worker's (and beat's) app: broker from ``BROKER_URLS``, database from ``DATABASE_URL``.

    Tests pass ``broker_urls=[vhost.url("logistic-service")]`` and ``settings`` with their own
    database; ``celery_settings`` go to :func:`event_contracts.create_app`.
    """
    settings = settings or Settings()
    every = settings.resume_every.total_seconds()
    app = create_service_app(
        NAME,
        broker_urls=broker_urls or settings.broker_urls,
        # Our own tasks go to our direct exchange (the default route would publish through the
        # default exchange, which this service's broker user may not write to).
        task_routes={
            f"{INTERNAL_QUEUE}.*": {
                "queue": INTERNAL_QUEUE,
                "exchange": INTERNAL_QUEUE,
                "routing_key": INTERNAL_QUEUE,
            }
        },
        beat_schedule={
            "resume-stuck-shipments": {
                "task": RESUME_STUCK_SHIPMENTS,
                "schedule": every,
                # When beat sent it: idle time is measured up to then (see the handler).
                "kwargs": {"sent_at": BeatLazyFunc(sent_now)},
                # No ``expires``: Celery turns it into a per-message TTL, and the queue's policy
                # dead-letters expired messages into logistic.internal.dlq, which must only hold
                # poison. Runs queued up during an outage are cheap: after the first, none is stuck.
            }
        },
        # Finish started chains before taking new orders: at most one new order waits in the
        # worker beside its whole prefetch of chain steps (event_contracts.runtime.prefetch).
        shop_queue_prefetch=celery_settings.pop(
            "shop_queue_prefetch", dict.fromkeys(EVENT_QUEUES, 1)
        ),
        beat_scheduler="logistic_service.entrypoints.beat:HeartbeatScheduler",
        beat_max_loop_interval=10,
        **celery_settings,
    )
    engine = database.create_engine(settings.database_url)
    dispose_in_forked_children(engine)
    handlers = bootstrap(
        uow=partial(SqlAlchemyUnitOfWork, session_factory(engine)),
        publisher=Publisher(app),
        pipeline=CeleryPipeline(app),
        clock=clock,
        resume_idle_for=settings.resume_idle_for,
        resume_batch=settings.resume_batch_size,
    )
    subscribe(handlers, subscriptions_of(app))
    _register_tasks(app, handlers)
    retention = settings.inbox_retention
    add_periodic_job(
        app,
        f"{NAME}.purge-inbox",
        settings.inbox_purge_every.total_seconds(),
        lambda: purge_inbox(engine, orm.inbox, retention=retention),
    )
    return app


# --- own tasks (queue logistic.internal)


def _register_tasks(app: Celery, handlers: Handlers) -> None:
    steps: dict[str, Callable[[str, str | None], StepOutcome]] = {
        PICK: lambda shipment_id, _: handlers.pick(shipment_id),
        PACK: lambda shipment_id, _: handlers.pack(shipment_id),
        DISPATCH: handlers.dispatch,
    }
    for name, run in steps.items():
        app.task(name=name, bind=True, base=ServiceTask, shared=False)(_step_task(run))

    # base=ServiceTask explicitly: Celery does not read a ``task_cls`` setting (only the
    # constructor argument), and ServiceTask brings retry_privately / dead_letter.
    @app.task(
        name=RESUME_STUCK_SHIPMENTS,
        bind=True,
        base=ServiceTask,  # type: ignore[untyped-decorator]
        shared=False,
    )
    def resume_stuck_shipments(task: ServiceTask, sent_at: str | None = None) -> list[str]:
        # No retry: the next run is at most one beat interval away.
        with task.handling(retry=False):
            try:
                sent = None if sent_at is None else datetime.fromisoformat(sent_at)
            except ValueError as exc:
                raise PoisonMessage(f"sent_at is not an ISO 8601 time: {exc}") from exc
        if sent is not None and sent.tzinfo is None:
            sent = sent.replace(tzinfo=UTC)
        resumed = handlers.resume_stuck_shipments(sent)
        if resumed:
            log.warning("resumed %d stuck shipment(s): %s", len(resumed), ", ".join(resumed))
        return resumed


def sent_now() -> str:
    """Beat's sending time of the resume job (a module-level function: beat pickles its entries)."""
    return datetime.now(UTC).isoformat()


def _step_task(run: Callable[[str, str | None], StepOutcome]) -> Callable[..., None]:
    # The chain only starts after the shipment is committed, and steps only move forward:
    # retrying cannot fix an unknown shipment or an illegal transition. Keep the message, with
    # the reason, in the DLQ; any other error is retried privately.
    run_refusing = refusing(UnknownShipment, IllegalTransition)(run)

    def step(task: ServiceTask, shipment_id: str, correlation_id: str | None = None) -> None:
        with task.handling():
            outcome = run_refusing(shipment_id, correlation_id)
        if outcome is StepOutcome.STOPPED:
            task.request.chain = None  # stop the rest of the chain quietly

    return step
