"""The service's own database, through event-contracts' shared plumbing (skeleton file).

``DATABASE_URL`` names it (:class:`~order_service.settings.Settings`; compose:
``postgresql+psycopg://...``); unset, an embedded SQLite file (development only). The engine
settings per backend, the migrations under PostgreSQL's advisory lock and the start-up wait
live once in ``event_contracts.service_defaults.database``; this module only names the
service's migrations and its lock. Rendered from ``templates/service``: do not edit here
(``make template-check`` fails on drift); engine options come from the settings.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from alembic.config import Config
from event_contracts.service_defaults import database as defaults
from event_contracts.service_defaults.database import current_revision, wait_until_reachable
from sqlalchemy.engine import Connection, Engine

from order_service.settings import Settings

__all__ = ["MIGRATIONS", "alembic_config", "create_engine", "current_revision", "database_url"]
__all__ += ["head_revision", "migrate", "migration_lock", "wait_until_reachable"]

MIGRATIONS = defaults.Migrations(
    "order_service:migrations",
    defaults.lock_key("order"),
)
"""The packaged migrations; ``pg_advisory_lock`` key from the service name."""


def database_url() -> str:
    return Settings().database_url


def create_engine(url: str | None = None, **options: Any) -> Engine:
    """An engine for ``url`` (default: the settings' ``DATABASE_URL``), pool sizes from settings."""
    settings = Settings()
    return defaults.create_engine(url or settings.database_url, **settings.engine_options(options))


def migrate(engine: Engine) -> str | None:
    """Upgrade the schema to the newest revision (under the lock); returns it."""
    return MIGRATIONS.migrate(engine)


def head_revision() -> str | None:
    return MIGRATIONS.head_revision()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the packaged migrations (``alembic.ini`` says the same)."""
    return MIGRATIONS.config(connection)


def migration_lock(connection: Connection) -> AbstractContextManager[None]:
    """PostgreSQL: the advisory lock replicas take to migrate one at a time."""
    return MIGRATIONS.lock(connection)
