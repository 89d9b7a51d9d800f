"""One replica's start-up migration, run in its own process by ``test_migration_lock``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from event_contracts.service_defaults.database import Migrations, create_engine, lock_key

SCRIPTS = Path(__file__).with_name("lock_migrations")
"""Two revisions; the first records itself and takes a second, so that migrators overlap."""

LOCK_KEY = lock_key("locktest")


class WithoutTheLock(Migrations):
    """The same migrations with the advisory lock switched off (the counterfactual)."""

    @contextmanager
    def lock(self, connection: Connection) -> Iterator[None]:
        yield


def migrate(url: str, locked: bool, start: Any, outcomes: Any) -> None:
    """Wait for the other replicas at ``start``, then migrate ``url``; put the outcome."""
    kind = Migrations if locked else WithoutTheLock
    migrations = kind(str(SCRIPTS), LOCK_KEY)
    engine = create_engine(url)
    start.wait(timeout=60)
    try:
        outcomes.put(f"migrated to {migrations.migrate(engine)}")
    except Exception as exc:
        outcomes.put(f"failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
