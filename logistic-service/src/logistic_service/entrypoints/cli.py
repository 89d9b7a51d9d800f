"""Console scripts: ``logistic-service-worker`` (the image's CMD), ``-beat`` and ``-migrate``."""

from __future__ import annotations

import logging
import os

from event_contracts.runtime import run_beat, run_worker

from logistic_service.adapters.migrations import migrate as migrate_database
from logistic_service.config import Settings
from logistic_service.entrypoints.celery_app import create_app


def _logging() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="[%(asctime)s: %(levelname)s/%(name)s] %(message)s",
    )


def migrate() -> None:
    """Upgrade the database to the newest schema and exit."""
    _logging()
    migrate_database(Settings.from_env().database_url)


def worker() -> None:
    """Migrate, then consume logistic.order and logistic.internal (blocks)."""
    _logging()
    settings = Settings.from_env()
    migrate_database(settings.database_url)
    run_worker(create_app(settings=settings))


def beat() -> None:
    """Send the periodic resume job (blocks). Exactly one per deployment: never scale it."""
    _logging()
    run_beat(create_app(), os.environ.get("BEAT_SCHEDULE_FILE", "/tmp/celerybeat-schedule"))
