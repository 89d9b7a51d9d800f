"""Settings from the environment: typed, the pool follows the request threads."""

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
