"""order-service's own settings: the pool follows the request threads, the relay's are checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from order_service.settings import Settings

pytestmark = pytest.mark.unit


def test_the_pool_follows_gunicorn_threads_unless_db_pool_size_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DB_POOL_SIZE", raising=False)
    monkeypatch.setenv("GUNICORN_THREADS", "12")
    assert Settings().db_pool_size == 12
    monkeypatch.setenv("DB_POOL_SIZE", "3")
    assert Settings().db_pool_size == 3


def test_relay_settings_are_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_PUBLISHERS", "2")
    monkeypatch.setenv("OUTBOX_RETENTION_HOURS", "0")
    settings = Settings()
    assert (settings.relay_publishers, settings.outbox_retention_hours) == (2, 0)
    monkeypatch.setenv("RELAY_POLL_INTERVAL", "-1")
    with pytest.raises(ValidationError, match="relay_poll_interval"):
        Settings()


def test_the_edges_postgresql_engine_keeps_its_pool_and_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One connection per request thread (as many again under load), recycled, a connect
    timeout, no pre-ping round trip per request; the shared ``DATABASE_POOL_SIZE`` still wins."""
    monkeypatch.delenv("DATABASE_POOL_SIZE", raising=False)
    monkeypatch.setenv("DB_POOL_SIZE", "6")
    settings = Settings(database_url="postgresql+psycopg://u:p@db/order_service")

    assert settings.engine_options() == {
        "pool_size": 6,
        "max_overflow": 6,
        "pool_recycle": 1800,
        "pool_pre_ping": False,
        "connect_args": {"connect_timeout": 5},
    }
    monkeypatch.setenv("DATABASE_POOL_SIZE", "2")
    assert Settings(database_url=settings.database_url).engine_options()["pool_size"] == 2


def test_the_development_engine_gets_only_the_shared_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_POOL_SIZE", raising=False)
    monkeypatch.delenv("DATABASE_MAX_OVERFLOW", raising=False)

    assert Settings(database_url="sqlite:///./order_service.sqlite3").engine_options() == {}
