"""Engines and migrations: PostgreSQL in the platform, an embedded SQLite file by default.

Migrations run at every process start (API, relay, worker, or ``order-service-migrate``). On
PostgreSQL they run under ``pg_advisory_lock``: replicas starting together queue up behind the
first, which migrates; the others then find nothing to do. SQLite has one writer per file anyway.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from alembic.config import Config
from event_contracts.service_defaults import tracing
from event_contracts.service_defaults.database import Migrations
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x6F72646572  # "order": one advisory lock id for this service's migrations
SQLITE_BUSY_TIMEOUT_MS = 15_000
CONNECT_TIMEOUT_S = 5
"""PostgreSQL: a connection attempt gives up after this long (libpq ``connect_timeout``), so a
request never waits on an unreachable server for longer."""
# SQLSTATEs of a server that is there but will not serve: shutting down, crashed, starting up.
_SERVER_GOING_AWAY = ("57P01", "57P02", "57P03")


def is_unreachable(exc: BaseException) -> bool:
    """The database could not be reached or went away: refused, unresolvable, timed out, shut
    down, connection lost. Retrying later can succeed; nothing about the request was wrong.

    A database that answered with an error (a constraint, a syntax error, a serialization
    failure: SQLSTATEs of other classes) is not "unreachable".
    """
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if not isinstance(orig, psycopg.OperationalError):
        return False
    sqlstate = orig.sqlstate
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _SERVER_GOING_AWAY


def make_engine(url: str, *, pool_size: int = 5, **options: Any) -> Engine:
    """An engine for ``url`` with the settings this service relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, **options)
        _sqlite_immediate_transactions(engine)
        return tracing.trace_engine(engine)
    # No pool_pre_ping: it costs a round trip per checkout (per request). A connection broken by
    # a database restart fails one transaction, which invalidates the whole pool; the client's
    # retry (or the worker's private retry) then gets a fresh connection.
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S, **options.pop("connect_args", {})}
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args=connect_args,
        **options,
    )
    return tracing.trace_engine(engine)  # database spans while spans are exported


def _sqlite_immediate_transactions(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` for every transaction.

    With SQLite's default deferred transactions two writers may both read, then one fails to
    upgrade its lock (SQLITE_BUSY, no retry possible); taking the write lock at BEGIN makes
    writers queue (up to the busy timeout) instead. SQLAlchemy's documented recipe.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not BEGIN by itself
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


MIGRATIONS = Migrations("order_service:migrations", MIGRATION_LOCK)
"""The packaged migrations, upgraded under the advisory lock (event-contracts'
``service_defaults.database``: the lock, Alembic's process-global context, the revision log)."""


def alembic_config() -> Config:
    return MIGRATIONS.config()


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision (under an advisory lock on PostgreSQL)."""
    started = time.monotonic()
    MIGRATIONS.migrate(engine)
    log.info("database schema is at head (%.2f s)", time.monotonic() - started)
