"""The service's own database: engine settings per backend, and migrations at start-up.

``DATABASE_URL`` names it (compose: ``postgresql+psycopg://...``); unset, an embedded SQLite
file ``./billing_service.sqlite3`` is used (development only: one host, one writer at a time).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from event_contracts.service_defaults import tracing
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///./billing_service.sqlite3"
MIGRATIONS = "billing_service:migrations"
MIGRATION_LOCK_KEY = int.from_bytes(b"billing!", "big") & 0x7FFF_FFFF_FFFF_FFFF
"""``pg_advisory_lock`` key serializing migrations across replicas (the bytes of 'billing!')."""


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def create_engine(url: str | None = None, **options: Any) -> Engine:
    """An engine for ``url`` (default: :func:`database_url`) with the settings the ledger needs.

    PostgreSQL: connections are checked before use (a restarted server costs one retry, not a
    failed delivery). SQLite: foreign keys on, WAL, and every transaction ``BEGIN IMMEDIATE``
    so concurrent writers queue up (``busy_timeout``) instead of failing half-way through.
    """
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = sqlalchemy.create_engine(url, connect_args={"timeout": 30}, **options)
        _configure_sqlite(engine)
        return tracing.trace_engine(engine)
    return tracing.trace_engine(sqlalchemy.create_engine(url, pool_pre_ping=True, **options))


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the packaged migrations (``alembic.ini`` says the same)."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config


@contextmanager
def migration_lock(connection: Connection) -> Iterator[None]:
    """PostgreSQL: hold the advisory lock (replicas starting together migrate one at a time)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()


_in_process = threading.Lock()


def migrate(engine: Engine) -> str | None:
    """Upgrade the schema to the newest revision; returns it. Safe to run from every replica.

    (Alembic's ``context`` is process-global: within a process, one migration at a time.)
    """
    with _in_process, engine.connect() as connection, migration_lock(connection):
        before = current_revision(connection)
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
        after = current_revision(connection)
    if before != after:
        log.info("database migrated from %s to %s", before or "empty", after)
    else:
        log.info("database schema is current (%s)", after)
    return after


def current_revision(connection: Connection) -> str | None:
    revision = MigrationContext.configure(connection).get_current_revision()
    connection.commit()
    return revision


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def wait_until_reachable(engine: Engine, timeout: float = 60.0) -> None:
    """Block until the database accepts a connection (at start-up, e.g. a restarting server)."""
    deadline = time.monotonic() + timeout
    delay = 0.5
    while True:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except OperationalError as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "database not reachable yet (%s); trying again in %.1f s", exc.orig or exc, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
