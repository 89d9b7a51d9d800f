"""order-service's configuration: typed, read from the environment once (pydantic-settings).

What every service reads (``DATABASE_URL``, ``BROKER_URLS``, ``LOG_LEVEL``, ``INBOX_*_SECONDS``)
comes from ``event_contracts.service_defaults.settings``; order adds the edge's, the relay's
and the token checks' settings. Every variable has a working default (see README); a bad value
fails at start-up with the variable's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from event_contracts.service_defaults.settings import ServiceSettings
from pydantic import AliasChoices, Field, NonNegativeFloat, PositiveFloat, PositiveInt

CONNECT_TIMEOUT_SECONDS = 5
"""PostgreSQL: libpq's ``connect_timeout``."""
POOL_RECYCLE_SECONDS = 1800


class Settings(ServiceSettings):
    """The edge, relay and facts worker's settings (case-insensitive environment variables)."""

    database_url: str = "sqlite:///./order_service.sqlite3"
    invoice_timeout: PositiveFloat = 2.0
    """``INVOICE_TIMEOUT``: seconds ``GET /orders/{id}/invoice`` waits for billing before 504."""
    readiness_timeout: PositiveFloat = 1.0
    """``READINESS_TIMEOUT``: seconds ``/readyz`` gives the broker connection check."""
    max_content_length: PositiveInt = 64 * 1024
    db_pool_size: PositiveInt = Field(
        default=8, validation_alias=AliasChoices("db_pool_size", "gunicorn_threads")
    )
    """``DB_POOL_SIZE``, else ``GUNICORN_THREADS`` (one connection per request thread); as many
    again under load. ``DATABASE_POOL_SIZE`` / ``DATABASE_MAX_OVERFLOW`` override both."""
    relay_batch_size: PositiveInt = 100
    relay_publishers: PositiveInt = 4
    """Relay publish lanes (rows split by order id; see service_layer/relay.py)."""
    relay_poll_interval: PositiveFloat = 0.2
    """Idle relay: seconds between polls (on PostgreSQL LISTEN/NOTIFY wakes it sooner)."""
    relay_backoff_start: PositiveFloat = 0.5
    relay_backoff_max: PositiveFloat = 10.0
    relay_row_retries: PositiveInt = 8
    """A row the broker refuses is tried again this many times (backoff below), then parked."""
    relay_row_retry_start: PositiveFloat = 1.0
    relay_row_retry_max: PositiveFloat = 60.0
    outbox_retention_hours: NonNegativeFloat = 168.0
    """Published outbox rows are deleted after this many hours (0: never)."""
    outbox_metrics_every: PositiveFloat = 5.0
    """``OUTBOX_METRICS_EVERY``: seconds between the relay's samples of the outbox backlog."""
    oidc_issuer: str = ""
    """The token issuer (``iss``); the edge refuses to start without it."""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    """Empty: the ``jwks_uri`` of the issuer's discovery document."""
    oidc_leeway: NonNegativeFloat = 30.0
    oidc_roles_claim: str = "realm_access.roles"
    oidc_jwks_cooldown: NonNegativeFloat = 30.0

    def engine_options(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """PostgreSQL: a connection per request thread, recycled every half hour, a connection
        attempt given up after ``CONNECT_TIMEOUT_SECONDS`` (a request never waits longer on an
        unreachable server), and no pre-ping: it would cost a round trip per request; a
        connection broken by a database restart fails one transaction, which invalidates the
        pool, and the client's retry (or the worker's private retry) gets a fresh one."""
        if not self.database_url.startswith("postgresql"):
            return super().engine_options(options)
        edge = {
            "pool_size": self.db_pool_size,
            "max_overflow": self.db_pool_size,
            "pool_recycle": POOL_RECYCLE_SECONDS,
            "pool_pre_ping": False,
            "connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        }
        return {**edge, **super().engine_options(options)}
