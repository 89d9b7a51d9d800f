"""Configuration from the environment: every variable has a working default (see README)."""

from __future__ import annotations

import os
from datetime import timedelta

import attrs
from event_contracts.inbox import (
    DEFAULT_PURGE_EVERY,
    DEFAULT_RETENTION,
    purge_every_from_env,
    retention_from_env,
)

DEFAULT_DATABASE_URL = "sqlite:///./order_service.sqlite3"


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


@attrs.frozen(kw_only=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    broker_urls: tuple[str, ...] = ()
    """Empty: event-contracts reads ``BROKER_URLS`` itself."""
    invoice_timeout: float = 2.0
    """Seconds ``GET /orders/{id}/invoice`` waits for billing before answering 504."""
    readiness_timeout: float = 1.0
    """Seconds ``/readyz`` gives the broker connection check."""
    max_content_length: int = 64 * 1024
    db_pool_size: int = 8
    relay_batch_size: int = 100
    relay_publishers: int = 4
    """Relay publish lanes (rows split by order id; see service_layer/relay.py)."""
    relay_poll_interval: float = 0.2
    """Idle relay: seconds between polls (on PostgreSQL LISTEN/NOTIFY wakes it sooner)."""
    relay_backoff_start: float = 0.5
    relay_backoff_max: float = 10.0
    relay_row_retries: int = 8
    """A row the broker refuses is tried again this many times (backoff below), then parked."""
    relay_row_retry_start: float = 1.0
    relay_row_retry_max: float = 60.0
    outbox_retention_hours: float = 168.0
    """Published outbox rows are deleted after this many hours (0: never)."""
    outbox_metrics_every: float = 5.0
    """``OUTBOX_METRICS_EVERY``: seconds between the relay's samples of the outbox backlog."""
    inbox_retention: timedelta = DEFAULT_RETENTION
    """``INBOX_RETENTION_SECONDS``: the dedupe window of the facts worker's inbox and of
    ``Idempotency-Key``s; older records are deleted (``event_contracts.inbox``)."""
    inbox_purge_every: timedelta = DEFAULT_PURGE_EVERY
    """``INBOX_PURGE_EVERY_SECONDS``: how often the facts worker deletes them."""
    oidc_issuer: str = ""
    """The token issuer (``iss``); the edge refuses to start without it."""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    """Empty: the ``jwks_uri`` of the issuer's discovery document."""
    oidc_leeway: float = 30.0
    oidc_roles_claim: str = "realm_access.roles"
    oidc_jwks_cooldown: float = 30.0

    @classmethod
    def from_env(cls) -> Settings:
        urls = os.environ.get("BROKER_URLS", "")
        return cls(
            database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            broker_urls=tuple(u.strip() for u in urls.replace(",", ";").split(";") if u.strip()),
            invoice_timeout=_float("INVOICE_TIMEOUT", 2.0),
            readiness_timeout=_float("READINESS_TIMEOUT", 1.0),
            max_content_length=_int("MAX_CONTENT_LENGTH", 64 * 1024),
            db_pool_size=_int("DB_POOL_SIZE", _int("GUNICORN_THREADS", 8)),
            relay_batch_size=_int("RELAY_BATCH_SIZE", 100),
            relay_publishers=_int("RELAY_PUBLISHERS", 4),
            relay_poll_interval=_float("RELAY_POLL_INTERVAL", 0.2),
            relay_backoff_start=_float("RELAY_BACKOFF_START", 0.5),
            relay_backoff_max=_float("RELAY_BACKOFF_MAX", 10.0),
            relay_row_retries=_int("RELAY_ROW_RETRIES", 8),
            relay_row_retry_start=_float("RELAY_ROW_RETRY_START", 1.0),
            relay_row_retry_max=_float("RELAY_ROW_RETRY_MAX", 60.0),
            outbox_retention_hours=_float("OUTBOX_RETENTION_HOURS", 168.0),
            outbox_metrics_every=_float("OUTBOX_METRICS_EVERY", 5.0),
            inbox_retention=retention_from_env(),
            inbox_purge_every=purge_every_from_env(),
            oidc_issuer=os.environ.get("OIDC_ISSUER", ""),
            oidc_audience=os.environ.get("OIDC_AUDIENCE", ""),
            oidc_jwks_url=os.environ.get("OIDC_JWKS_URL", ""),
            oidc_leeway=_float("OIDC_LEEWAY", 30.0),
            oidc_roles_claim=os.environ.get("OIDC_ROLES_CLAIM") or "realm_access.roles",
            oidc_jwks_cooldown=_float("OIDC_JWKS_COOLDOWN", 30.0),
        )
