"""billing-service's configuration: typed, read from the environment once (pydantic-settings).

What every service reads (``DATABASE_URL``, ``BROKER_URLS``, ``LOG_LEVEL``, ``INBOX_*_SECONDS``,
``DATABASE_POOL_SIZE``...) comes from ``event_contracts.service_defaults.settings``; billing
only names its development database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from event_contracts.service_defaults.settings import ServiceSettings


class Settings(ServiceSettings):
    """billing's settings (case-insensitive environment variables)."""

    database_url: str = "sqlite:///./billing_service.sqlite3"
    """The ledger (compose: ``postgresql+psycopg://billing_service:...@postgres/billing_service``)."""

    def engine_options(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """PostgreSQL: no pre-ping. It would cost a round trip (and ~0.1 ms of the worker's CPU)
        on every handling; a connection broken by a database restart fails one handling, which
        invalidates the pool, and the runtime's private retry runs it on a fresh connection
        (order-service's engine does the same; tests/integration/test_round_trips.py)."""
        if not self.database_url.startswith("postgresql"):
            return super().engine_options(options)
        return {"pool_pre_ping": False, **super().engine_options(options)}
