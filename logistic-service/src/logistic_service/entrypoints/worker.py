"""``logistic-service-worker`` (the image's CMD) and ``logistic-service-beat``.

The worker migrates the database, then consumes ``logistic.order`` and ``logistic.internal``
(``event_contracts.runtime.run_worker``); beat sends the periodic resume job (exactly one per
deployment: never scale it). ``logistic-service migrate`` (``entrypoints.cli``) migrates alone.
"""

from __future__ import annotations

import os

from event_contracts.runtime import run_beat, run_worker
from event_contracts.service_defaults import logging as service_logging

from logistic_service.adapters import database
from logistic_service.entrypoints.celery_app import create_app
from logistic_service.settings import Settings


def main() -> None:
    """Migrate, then consume logistic.order and logistic.internal (blocks)."""
    service_logging.configure("logistic-service", "worker")
    settings = Settings()
    engine = database.create_engine(settings.database_url)
    try:
        database.wait_until_reachable(engine)
        database.migrate(engine)
    finally:
        engine.dispose()
    run_worker(create_app(settings=settings))


def beat() -> None:
    """Send the periodic resume job (blocks). Exactly one per deployment: never scale it."""
    service_logging.configure("logistic-service", "beat")
    run_beat(create_app(), os.environ.get("BEAT_SCHEDULE_FILE", "/tmp/celerybeat-schedule"))


if __name__ == "__main__":  # pragma: no cover
    main()
