"""``order-service-worker``: migrate the database, then follow billing's and logistic's facts
about orders (queues ``order.billing``, ``order.logistic``; the callbacks are
:mod:`order_service.entrypoints.consumers`').

The worker's main process also deletes what left the dedupe window (``INBOX_RETENTION_SECONDS``)
every ``INBOX_PURGE_EVERY_SECONDS``: the inbox's records and the ``Idempotency-Key``s of
``POST /orders``. A timer of the worker's own (no beat, no message); the relay is left alone.
"""

from __future__ import annotations

from event_contracts.contrib.sqlalchemy import purge_inbox
from event_contracts.runtime import add_periodic_job, run_worker, subscriptions_of
from event_contracts.service_defaults.database import dispose_in_forked_children

from order_service import bootstrap
from order_service.adapters import database, orm
from order_service.entrypoints.consumers import subscribe


def schedule_purge(services: bootstrap.Services) -> None:
    """Purge the inbox and the idempotency keys periodically, in the worker's main process."""
    settings, engine = services.settings, services.engine
    add_periodic_job(
        services.celery_app,
        "order.purge-inbox",
        settings.inbox_purge_every.total_seconds(),
        lambda: purge_inbox(
            engine,
            orm.inbox,
            retention=settings.inbox_retention,
            also=[orm.idempotency_keys.c.created_at],
        ),
    )


def main() -> None:
    services = bootstrap.bootstrap(run_migrations=False)
    database.wait_until_reachable(services.engine)
    database.migrate(services.engine)
    subscribe(services.uow_factory, subscriptions_of(services.celery_app))
    schedule_purge(services)
    services.engine.dispose()  # the migration's connection: pool processes open their own
    dispose_in_forked_children(services.engine)
    run_worker(services.celery_app)


if __name__ == "__main__":
    main()
