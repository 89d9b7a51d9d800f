"""``billing-service-worker``: migrate the database, then run the Celery worker (blocks).

The image's command. The worker consumes ``billing.order`` and ``billing.sync`` with the
platform's standard settings (``event_contracts.runtime.run_worker``: node name
``billing-service@<host>``, ``WORKER_CONCURRENCY`` processes of ``WORKER_POOL``). Its main
process also purges the inbox every ``INBOX_PURGE_EVERY_SECONDS`` (records older than
``INBOX_RETENTION_SECONDS``): a timer of the worker's own, no beat and no broker round trip;
every replica does it, and deleting old rows twice is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery
from event_contracts import Publisher, create_app
from event_contracts.contrib.sqlalchemy import purge_inbox
from event_contracts.runtime import add_periodic_job, run_worker, subscriptions_of
from event_contracts.service_defaults import logging as service_logging
from event_contracts.service_defaults.database import dispose_in_forked_children
from sqlalchemy.engine import Engine

from billing_service.adapters import database, orm
from billing_service.bootstrap import Billing, bootstrap
from billing_service.entrypoints.consumers import subscribe
from billing_service.settings import Settings
from billing_service.topology import NAME


def build(
    *,
    settings: Settings | None = None,
    broker_urls: Sequence[str] | None = None,
    engine: Engine | None = None,
    migrate: bool = True,
    **celery_settings: Any,
) -> tuple[Celery, Billing]:
    """Billing's Celery app and its use cases, wired to that app's publisher and the database.

    Callbacks are not registered yet: :func:`~billing_service.entrypoints.consumers.subscribe`
    registers them on the app's own registry (``subscriptions_of(app)``).
    """
    settings = settings or Settings()
    app = create_app(NAME, broker_urls=broker_urls or settings.broker_urls, **celery_settings)
    engine = engine or database.create_engine(settings.database_url)
    billing = bootstrap(publisher=Publisher(app), engine=engine, migrate=migrate)
    retention = settings.inbox_retention
    add_periodic_job(
        app,
        f"{NAME}.purge-inbox",
        settings.inbox_purge_every.total_seconds(),
        lambda: purge_inbox(engine, orm.inbox, retention=retention),
    )
    return app, billing


def main() -> None:
    service_logging.configure("billing-service", "worker")
    settings = Settings()
    engine = database.create_engine(settings.database_url)
    database.wait_until_reachable(engine)
    app, billing = build(settings=settings, engine=engine)
    engine.dispose()  # the migration's connection: pool processes open their own
    subscribe(billing, subscriptions_of(app))
    dispose_in_forked_children(engine)
    run_worker(app)


if __name__ == "__main__":  # pragma: no cover
    main()
