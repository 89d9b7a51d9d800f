"""Configuration from the environment; every value has a working default for development."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

import attrs
from event_contracts.inbox import (
    DEFAULT_PURGE_EVERY,
    DEFAULT_RETENTION,
    purge_every_from_env,
    retention_from_env,
)

DEFAULT_DATABASE_URL = "sqlite:///./logistic_service.sqlite3"


@attrs.frozen
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    """``DATABASE_URL``: compose gives ``postgresql+psycopg://...``; else an SQLite file."""
    resume_every: timedelta = timedelta(seconds=30)
    """``RESUME_EVERY_SECONDS``: how often beat sends the resume job."""
    resume_idle_for: timedelta = timedelta(seconds=300)
    """``RESUME_IDLE_SECONDS``: a shipment idle this long in the warehouse is resumed."""
    resume_batch: int = 100
    """``RESUME_BATCH_SIZE``: at most this many shipments resumed per run."""
    inbox_retention: timedelta = DEFAULT_RETENTION
    """``INBOX_RETENTION_SECONDS``: the dedupe window (``event_contracts.inbox``)."""
    inbox_purge_every: timedelta = DEFAULT_PURGE_EVERY
    """``INBOX_PURGE_EVERY_SECONDS``: how often each worker deletes what left the window."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def seconds(name: str, default: timedelta) -> timedelta:
            return timedelta(seconds=float(env[name])) if env.get(name) else default

        defaults = cls()
        return cls(
            database_url=env.get("DATABASE_URL") or defaults.database_url,
            resume_every=seconds("RESUME_EVERY_SECONDS", defaults.resume_every),
            resume_idle_for=seconds("RESUME_IDLE_SECONDS", defaults.resume_idle_for),
            resume_batch=int(env.get("RESUME_BATCH_SIZE") or defaults.resume_batch),
            inbox_retention=retention_from_env(env),
            inbox_purge_every=purge_every_from_env(env),
        )
