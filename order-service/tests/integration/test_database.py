"""Migrations: the schema they build is the one the code maps, and starting replicas together
is safe (PostgreSQL: advisory lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine as plain_engine
from sqlalchemy import insert, inspect, text
from sqlalchemy.engine import make_url

from order_service.adapters import orm
from order_service.adapters.database import alembic_config, create_engine, migrate

pytestmark = pytest.mark.integration


def test_migrations_build_exactly_the_mapped_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, orm.metadata)
    engine.dispose()
    assert differences == []


def test_replicas_migrating_at_once_all_succeed(database_url: str) -> None:
    """Three processes run ``order-service migrate`` together, as scaled replicas would."""
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    replicas = [
        subprocess.Popen(
            [sys.executable, "-m", "order_service.entrypoints.cli", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [replica.communicate(timeout=90)[0].decode() for replica in replicas]

    assert [replica.returncode for replica in replicas] == [0, 0, 0], outputs
    engine = plain_engine(database_url)
    with engine.connect() as connection:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert MigrationContext.configure(connection).get_current_revision() == head is not None
    assert {
        "orders",
        "order_lines",
        "idempotency_keys",
        "outbox",
        "processed_events",
        "inbox_admissions",
    } <= set(inspect(engine).get_table_names())
    engine.dispose()


@pytest.mark.skipif(
    "postgresql" not in os.environ.get("TEST_DATABASE_URL", ""),
    reason="the advisory lock is PostgreSQL's",
)
def test_replicas_migrating_an_empty_postgres_database_at_once() -> None:
    """A brand-new database (needs CREATEDB): the lock makes two of three wait, then no-op."""
    admin_url = make_url(os.environ["TEST_DATABASE_URL"])
    name = f"order_migrate_{uuid.uuid4().hex[:8]}"
    admin = plain_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        test_replicas_migrating_at_once_all_succeed(
            admin_url.set(database=name).render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_parking_migration_gives_waiting_rows_their_order_and_goes_back_down(
    database_url: str,
) -> None:
    """0003_outbox_parking on a table with rows: unpublished rows learn their order id from the
    payload; the downgrade restores the schema before it."""
    engine = create_engine(database_url)
    migrate(engine)
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002_inbox")
        connection.execute(  # only the columns before parking
            insert(orm.outbox),
            [
                {
                    "event_id": uuid.uuid4(),
                    "exchange": "order",
                    "routing_key": "order.v2.submit",
                    "payload": {"id": order_id},
                    "attempts": attempts,
                    "published_at": published_at,
                }
                for order_id, attempts, published_at in [(41, 0, None), (42, 1, datetime.now(UTC))]
            ],
        )
        assert "order_id" not in {c["name"] for c in inspect(connection).get_columns("outbox")}
        command.upgrade(config, "head")
        rows = connection.execute(text("SELECT order_id, attempts FROM outbox ORDER BY id")).all()
        connection.commit()
    engine.dispose()
    assert [tuple(row) for row in rows] == [(41, 0), (None, 1)]  # published rows need none
