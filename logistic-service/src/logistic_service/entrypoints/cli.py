"""Console scripts: ``logistic-service-worker`` (the image's CMD), ``-beat`` and ``-migrate``."""

from __future__ import annotations

import os

from event_contracts.runtime import run_beat, run_worker
from event_contracts.service_defaults import logging as service_logging

from logistic_service.adapters.migrations import migrate as migrate_database
from logistic_service.config import Settings
from logistic_service.entrypoints.celery_app import create_app


def _logging(role: str) -> None:
    service_logging.configure("logistic-service", role)


def migrate() -> None:
    """Upgrade the database to the newest schema and exit."""
    _logging("migrate")
    migrate_database(Settings.from_env().database_url)


def worker() -> None:
    """Migrate, then consume logistic.order and logistic.internal (blocks)."""
    _logging("worker")
    settings = Settings.from_env()
    migrate_database(settings.database_url)
    run_worker(create_app(settings=settings))


def beat() -> None:
    """Send the periodic resume job (blocks). Exactly one per deployment: never scale it."""
    _logging("beat")
    run_beat(create_app(), os.environ.get("BEAT_SCHEDULE_FILE", "/tmp/celerybeat-schedule"))
