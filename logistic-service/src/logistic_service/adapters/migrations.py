"""Schema migrations (Alembic), run by every process at start, one at a time on PostgreSQL.

Three replicas starting together would race to create the same tables; a session-level
``pg_advisory_lock`` makes the others wait until the first has upgraded, after which their
upgrade is a no-op. SQLite (development) has a single writer anyway: no lock there.
"""

from __future__ import annotations

import logging

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

MIGRATION_LOCK_KEY = int.from_bytes(b"logistic", "big")
"""The advisory lock's key (a bigint); only this service's database uses it."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "logistic_service:migrations")
    return config


def migrate(database_url: str) -> None:
    """Upgrade the database at ``database_url`` to the newest revision."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            locking = connection.dialect.name == "postgresql"
            if locking:
                log.info("waiting for the migration lock")
                connection.execute(
                    text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                connection.commit()
            try:
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()
            finally:
                if locking:
                    connection.rollback()
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                    connection.commit()
    finally:
        engine.dispose()
    log.info("database schema is up to date")
