"""Typed settings from the environment, the part every service shares (pydantic-settings).

A service's ``settings.py`` subclasses :class:`ServiceSettings`, gives ``database_url`` its own
development default and adds its own fields. Every field has a development default, so the
worker and the tests run without any variable; a bad value fails at start-up with the
variable's name, never half-way through handling a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AliasChoices, Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_BROKER_URL = "amqp://guest:guest@localhost:5672/shop"
"""The same default as ``event_contracts.runtime.app`` (development: one local broker)."""
DEFAULT_INBOX_RETENTION = timedelta(days=7)
DEFAULT_INBOX_PURGE_EVERY = timedelta(minutes=10)
"""``event_contracts.inbox``'s defaults (not imported: the inbox records service_defaults' metrics)."""


class ServiceSettings(BaseSettings):
    """``DATABASE_URL``, ``DATABASE_POOL_SIZE``, ``DATABASE_MAX_OVERFLOW``, ``BROKER_URLS`` (or
    ``BROKER_URL``), ``LOG_LEVEL``, ``INBOX_*_SECONDS``.

    Names are case-insensitive; unknown variables are ignored.
    """

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    database_url: str = "sqlite:///./service.sqlite3"
    """The service's own database; each service's subclass names its SQLite file."""
    broker_urls: Annotated[list[str], NoDecode] = Field(
        default=[DEFAULT_BROKER_URL],
        min_length=1,
        validation_alias=AliasChoices("broker_urls", "broker_url"),
    )
    """One URL per cluster node, ``;``- or ``,``-separated in the environment."""
    database_pool_size: PositiveInt | None = None
    """PostgreSQL: connections kept per process (SQLAlchemy's default 5 when unset)."""
    database_max_overflow: NonNegativeInt | None = None
    """PostgreSQL: connections opened beyond the pool under load (default 10 when unset)."""
    log_level: str = "INFO"
    inbox_retention_seconds: PositiveFloat = DEFAULT_INBOX_RETENTION.total_seconds()
    """The inbox's dedupe window (``event_contracts.inbox``)."""
    inbox_purge_every_seconds: PositiveFloat = DEFAULT_INBOX_PURGE_EVERY.total_seconds()
    """How often each worker deletes inbox records older than the window."""

    @field_validator("broker_urls", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip() for url in value.replace(",", ";").split(";") if url.strip()]
        return value

    def engine_options(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``create_engine`` options from the settings, ``options`` given by the caller winning."""
        pool = {"pool_size": self.database_pool_size, "max_overflow": self.database_max_overflow}
        return {**{k: v for k, v in pool.items() if v is not None}, **(options or {})}

    @property
    def inbox_retention(self) -> timedelta:
        return timedelta(seconds=self.inbox_retention_seconds)

    @property
    def inbox_purge_every(self) -> timedelta:
        return timedelta(seconds=self.inbox_purge_every_seconds)
