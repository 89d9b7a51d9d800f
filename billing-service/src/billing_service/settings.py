"""billing-service's configuration: typed, read from the environment once (pydantic-settings).

What every service reads (``DATABASE_URL``, ``BROKER_URLS``, ``LOG_LEVEL``, ``INBOX_*_SECONDS``,
``DATABASE_POOL_SIZE``...) comes from ``event_contracts.service_defaults.settings``; billing
only names its development database.
"""

from __future__ import annotations

from event_contracts.service_defaults.settings import ServiceSettings


class Settings(ServiceSettings):
    """billing's settings (case-insensitive environment variables)."""

    database_url: str = "sqlite:///./billing_service.sqlite3"
    """The ledger (compose: ``postgresql+psycopg://billing_service:...@postgres/billing_service``)."""
