"""logistic-service's configuration: typed, read from the environment once (pydantic-settings).

What every service reads (``DATABASE_URL``, ``BROKER_URLS``, ``LOG_LEVEL``, ``INBOX_*_SECONDS``,
``DATABASE_POOL_SIZE``...) comes from ``event_contracts.service_defaults.settings``; logistic
adds its resume sweep and keeps its PostgreSQL pools small. Every value has a working default
for development.
"""

from __future__ import annotations

from datetime import timedelta

from event_contracts.service_defaults.settings import ServiceSettings
from pydantic import NonNegativeInt, PositiveFloat, PositiveInt


class Settings(ServiceSettings):
    """logistic's settings (case-insensitive environment variables)."""

    database_url: str = "sqlite:///./logistic_service.sqlite3"
    """Compose gives ``postgresql+psycopg://...``; else an SQLite file."""
    database_pool_size: PositiveInt | None = 2
    """PostgreSQL connections per process (a worker process runs one task at a time)."""
    database_max_overflow: NonNegativeInt | None = 2
    resume_every_seconds: PositiveFloat = 30.0
    """``RESUME_EVERY_SECONDS``: how often beat sends the resume job."""
    resume_idle_seconds: PositiveFloat = 300.0
    """``RESUME_IDLE_SECONDS``: a shipment idle this long in the warehouse is resumed."""
    resume_batch_size: PositiveInt = 100
    """``RESUME_BATCH_SIZE``: at most this many shipments resumed per run."""

    @property
    def resume_every(self) -> timedelta:
        return timedelta(seconds=self.resume_every_seconds)

    @property
    def resume_idle_for(self) -> timedelta:
        return timedelta(seconds=self.resume_idle_seconds)
