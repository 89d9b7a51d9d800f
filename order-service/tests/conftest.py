"""Fixtures shared by every test: the service's own database, fresh per test.

SQLite file in ``tmp_path`` by default; with ``TEST_DATABASE_URL`` (``postgresql+psycopg://...``)
the tests run against PostgreSQL instead: migrated once, every table emptied before each test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from order_service.adapters import orm
from order_service.adapters.database import migrate

TABLES = ("idempotency_keys", "order_lines", "outbox", "processed_events", "orders")


@pytest.fixture(scope="session")
def _postgres_migrated() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        engine = create_engine(url)
        migrate(engine)
        engine.dispose()
    return url


@pytest.fixture
def database_url(tmp_path: Path, _postgres_migrated: str | None) -> Iterator[str]:
    orm.start_mappers()
    if _postgres_migrated is None:
        yield f"sqlite:///{tmp_path / 'order_service.sqlite3'}"
        return
    engine = create_engine(_postgres_migrated)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    engine.dispose()
    yield _postgres_migrated


@pytest.fixture
def customer() -> str:
    """A customer id no other test uses."""
    return f"c-{uuid.uuid4().hex[:12]}"
