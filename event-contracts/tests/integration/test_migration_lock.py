"""Replicas starting together migrate one fresh PostgreSQL database under the advisory lock.

``service_defaults.database.Migrations.migrate`` takes ``pg_advisory_lock`` around the Alembic
upgrade. Here three processes (one per replica; within one process a thread lock serializes
migrations anyway) are released at once on an empty database: with the lock every one succeeds
and each revision is applied once; without it the same start fails. PostgreSQL only: the
server of ``TEST_DATABASE_URL`` (``make db-tests``: the shop's), in a database of its own.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from event_contracts.testing import DATABASE_VARIABLE, fresh_database

from . import migrator

pytestmark = [pytest.mark.integration, pytest.mark.database]

REPLICAS = 3
EVERY_ONE_MIGRATED = ["migrated to 0002"] * REPLICAS


@pytest.fixture
def empty_database() -> Iterator[str]:
    url = os.environ.get(DATABASE_VARIABLE, "")
    if not url.startswith("postgresql"):
        pytest.skip(
            f"the migration lock is PostgreSQL's pg_advisory_lock: set {DATABASE_VARIABLE} "
            "to a PostgreSQL database whose user may create databases (make db-tests does)"
        )
    with fresh_database(url) as fresh:
        yield fresh


def migrate_at_once(url: str, *, locked: bool) -> list[str]:
    """Each replica's outcome, once all of them were released together on ``url``."""
    context = multiprocessing.get_context("spawn")  # fresh interpreters, as replicas are
    start = context.Barrier(REPLICAS)
    outcomes = context.Queue()
    replicas = [
        context.Process(target=migrator.migrate, args=(url, locked, start, outcomes)) for _ in range(REPLICAS)
    ]
    for replica in replicas:
        replica.start()
    try:
        return sorted(outcomes.get(timeout=90) for _ in replicas)
    finally:
        for replica in replicas:
            replica.join(timeout=30)


def applied(url: str) -> tuple[list[str], str | None]:
    """The revisions the migrations recorded applying (in order), and Alembic's version."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            revisions = connection.execute(text("SELECT revision FROM applied_revisions")).scalars()
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return list(revisions), version
    finally:
        engine.dispose()


def test_replicas_migrating_at_once_all_succeed_and_apply_each_revision_once(
    empty_database: str,
) -> None:
    outcomes = migrate_at_once(empty_database, locked=True)

    assert outcomes == EVERY_ONE_MIGRATED
    assert applied(empty_database) == (["0001", "0002"], "0002")


def test_without_the_lock_the_same_start_fails(empty_database: str) -> None:
    """The counterfactual of the test above: its first assertion can fail, and does unlocked."""
    outcomes = migrate_at_once(empty_database, locked=False)

    assert outcomes != EVERY_ONE_MIGRATED
    assert any(outcome.startswith("failed: IntegrityError") for outcome in outcomes), outcomes
