"""Engines and sessions for ``DATABASE_URL`` (PostgreSQL in compose, SQLite by default)."""

from __future__ import annotations

import weakref
from typing import Any

from celery.signals import worker_process_init
from event_contracts.service_defaults import tracing
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def make_engine(database_url: str, **options: Any) -> Engine:
    if database_url.startswith("sqlite"):
        # A writer waits up to 15 s for another one instead of failing at once.
        options.setdefault("connect_args", {"timeout": 15})
    else:
        options.setdefault("pool_pre_ping", True)
        options.setdefault("pool_size", 2)
        options.setdefault("max_overflow", 2)
    engine = create_engine(database_url, **options)
    _engines.add(engine)
    return tracing.trace_engine(engine)  # database spans while spans are exported


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: a handler reads what it committed (to publish it) without a
    # second round trip.
    return sessionmaker(bind=engine, expire_on_commit=False)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_pools_after_fork(**_: Any) -> None:
    """A prefork child must not reuse the parent's pooled connections."""
    for engine in list(_engines):
        engine.dispose(close=False)
