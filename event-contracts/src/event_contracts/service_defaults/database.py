"""A service's own database: the engine per backend, and Alembic migrations under a lock.

Every service calls these instead of keeping a copy:

* :func:`create_engine`: PostgreSQL connections are not pinged before each use (a round
  trip per transaction, ~0.1 ms of a worker's CPU per handling): a connection a restarted
  server broke fails one handling or request, SQLAlchemy then discards the pool's
  connections, and the private retry (a worker) or the client (the edge's 503) runs it
  again; SQLite (development) gets foreign keys, WAL and
  ``BEGIN IMMEDIATE`` for every transaction, so concurrent writers queue up (``busy_timeout``)
  instead of failing half-way through. Database spans follow ``service_defaults.tracing``.
* :class:`Migrations`: the service's packaged migrations, upgraded at start-up under
  PostgreSQL's ``pg_advisory_lock`` (replicas starting together migrate one at a time; the
  others then find the schema current).
* :func:`wait_until_reachable`: the start-up wait for a restarting server, with the one
  backoff (``service_defaults.backoff``).
* :func:`dispose_in_forked_children`: the fork hook; a prefork child never reuses the
  parent's pooled sockets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from event_contracts.service_defaults import tracing
from event_contracts.service_defaults.backoff import call_with_backoff

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 30


def create_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url`` with the settings every service needs (see the module)."""
    if url.startswith("sqlite"):
        options.pop("pool_size", None)  # one writer at a time: the pool sizes are PostgreSQL's
        options.pop("max_overflow", None)
        options.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        engine = sqlalchemy.create_engine(url, **options)
        _configure_sqlite(engine)
    else:
        engine = sqlalchemy.create_engine(url, **options)
    return tracing.trace_engine(engine)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is issued below, not by pysqlite
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def lock_key(name: str) -> int:
    """The advisory lock's key for a service: its name's first 8 bytes, ``!``-padded.

    ``billing`` → the bytes of ``billing!``; only the service's own database uses it.
    """
    return int.from_bytes((name.encode() + b"!" * 8)[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


_in_process = threading.Lock()
"""Alembic's ``context`` is process-global: within a process, one migration at a time."""


class Migrations:
    """A service's packaged Alembic migrations (``script_location``, e.g. ``x_service:migrations``)."""

    def __init__(self, script_location: str, lock_key: int) -> None:
        self.script_location = script_location
        self.lock_key = lock_key

    def config(self, connection: Connection | None = None) -> Config:
        """Alembic's configuration for the packaged migrations (``alembic.ini`` says the same)."""
        config = Config()
        config.set_main_option("script_location", self.script_location)
        config.attributes["connection"] = connection
        return config

    @contextmanager
    def lock(self, connection: Connection) -> Iterator[None]:
        """PostgreSQL: hold the advisory lock while migrating; other backends: nothing."""
        if connection.dialect.name != "postgresql":
            yield
            return
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": self.lock_key})
        connection.commit()
        try:
            yield
        finally:
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.lock_key})
            connection.commit()

    def migrate(self, engine: Engine) -> str | None:
        """Upgrade the schema to the newest revision; returns it. Safe from every replica."""
        with _in_process, engine.connect() as connection, self.lock(connection):
            before = current_revision(connection)
            command.upgrade(self.config(connection), "head")
            connection.commit()
            after = current_revision(connection)
        if before != after:
            log.info("database migrated from %s to %s", before or "empty", after)
        else:
            log.info("database schema is current (%s)", after)
        return after

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self.config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    revision = MigrationContext.configure(connection).get_current_revision()
    connection.commit()
    return revision


def wait_until_reachable(engine: Engine, timeout: float = 60.0) -> None:
    """Block until the database accepts a connection (at start-up, e.g. a restarting server)."""

    def ping() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    call_with_backoff(ping, OperationalError, what="connecting to the database", timeout=timeout)


def dispose_in_forked_children(engine: Engine) -> None:
    """A forked worker process opens its own connections (Celery's ``worker_process_init``)."""
    from celery.signals import worker_process_init

    def fresh_connections(**_: Any) -> None:
        engine.dispose(close=False)

    worker_process_init.connect(fresh_connections, weak=False)
