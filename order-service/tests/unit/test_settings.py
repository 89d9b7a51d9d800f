"""Settings from the environment: typed, with development defaults, bad values refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from order_service.settings import Settings

pytestmark = pytest.mark.unit


def test_broker_urls_are_a_failover_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_URLS", "amqp://a:5672/shop; amqp://b:5672/shop")

    assert Settings().broker_urls == ["amqp://a:5672/shop", "amqp://b:5672/shop"]


def test_defaults_run_without_any_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "BROKER_URLS", "INBOX_RETENTION_SECONDS"):
        monkeypatch.delenv(name, raising=False)

    settings = Settings()

    assert settings.database_url.startswith("sqlite:///")
    assert settings.inbox_retention_seconds == 7 * 24 * 3600


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_RETENTION_SECONDS", "-1")

    with pytest.raises(ValidationError, match="inbox_retention_seconds"):
        Settings()
