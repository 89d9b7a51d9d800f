"""service_defaults' shared plumbing: settings, backoff, the database, the unit of work, dead letters."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from event_contracts.errors import PoisonMessage
from event_contracts.service_defaults import database
from event_contracts.service_defaults.backoff import call_with_backoff
from event_contracts.service_defaults.dead_letters import refusing
from event_contracts.service_defaults.settings import ServiceSettings
from event_contracts.service_defaults.unit_of_work import AbstractUnitOfWork, SqlAlchemyUnitOfWork

pytestmark = pytest.mark.unit


def test_settings_read_the_environment_and_split_broker_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_URLS", "amqp://a/shop; amqp://b/shop,amqp://c/shop")
    monkeypatch.setenv("INBOX_RETENTION_SECONDS", "60")
    settings = ServiceSettings()
    assert settings.broker_urls == ["amqp://a/shop", "amqp://b/shop", "amqp://c/shop"]
    assert settings.inbox_retention.total_seconds() == 60


def test_settings_refuse_a_bad_value_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_PURGE_EVERY_SECONDS", "soon")
    with pytest.raises(ValueError, match="inbox_purge_every_seconds"):
        ServiceSettings()


def test_settings_defaults_are_the_inboxs() -> None:
    from event_contracts.inbox import DEFAULT_PURGE_EVERY, DEFAULT_RETENTION

    settings = ServiceSettings()
    assert (settings.inbox_retention, settings.inbox_purge_every) == (DEFAULT_RETENTION, DEFAULT_PURGE_EVERY)


def test_backoff_retries_the_given_errors_until_success() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not yet")
        return "up"

    assert call_with_backoff(flaky, ConnectionError, what="test", first=0.001, longest=0.001) == "up"
    assert len(calls) == 3


def test_backoff_gives_up_after_the_timeout_with_the_last_error() -> None:
    def down() -> None:
        raise ConnectionError("still down")

    with pytest.raises(ConnectionError, match="still down"):
        call_with_backoff(down, ConnectionError, what="test", timeout=0.05, first=0.01, longest=0.01)


def test_backoff_does_not_retry_other_errors() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        call_with_backoff(broken, ConnectionError, what="test")
    assert calls == [1]


def test_lock_keys_are_the_services_historical_ones() -> None:
    assert database.lock_key("billing") == int.from_bytes(b"billing!", "big")
    assert database.lock_key("logistic") == int.from_bytes(b"logistic", "big")


def test_sqlite_engine_begins_immediate_with_foreign_keys(tmp_path: Any) -> None:
    engine = database.create_engine(f"sqlite:///{tmp_path}/x.sqlite3")
    statements: list[str] = []

    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    with engine.begin() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
    # BEGIN IMMEDIATE goes through exec_driver_sql, which the cursor hook sees too
    assert "BEGIN IMMEDIATE" in statements


def test_wait_until_reachable_gives_up_on_a_dead_server() -> None:
    engine = database.create_engine(
        "postgresql+psycopg://u:p@127.0.0.1:9/none", connect_args={"connect_timeout": 1}
    )
    with pytest.raises(OperationalError):
        database.wait_until_reachable(engine, timeout=0.5)


class _Recording(AbstractUnitOfWork):
    def __init__(self, fail_rollback: bool = False) -> None:
        self.calls: list[str] = []
        self.fail_rollback = fail_rollback

    def commit(self) -> None:
        self.calls.append("commit")

    def rollback(self) -> None:
        self.calls.append("rollback")
        if self.fail_rollback:
            raise RuntimeError("connection lost")

    def close(self) -> None:
        self.calls.append("close")


def test_unit_of_work_exit_rolls_back_then_closes() -> None:
    uow = _Recording()
    with uow:
        uow.commit()
    assert uow.calls == ["commit", "rollback", "close"]


def test_unit_of_work_closes_even_when_rollback_fails() -> None:
    uow = _Recording(fail_rollback=True)
    with pytest.raises(RuntimeError), uow:
        pass
    assert uow.calls == ["rollback", "close"]


def test_sqlalchemy_unit_of_work_uncommitted_work_is_gone(tmp_path: Any) -> None:
    engine = database.create_engine(f"sqlite:///{tmp_path}/u.sqlite3")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (v INTEGER)"))

    class Uow(SqlAlchemyUnitOfWork):
        def open(self, session: Session) -> None:
            self.opened = session

    from event_contracts.service_defaults.unit_of_work import session_factory

    sessions = session_factory(engine)
    with Uow(sessions) as uow:
        uow.session.execute(text("INSERT INTO t VALUES (1)"))
    with Uow(sessions) as uow:
        uow.session.execute(text("INSERT INTO t VALUES (2)"))
        uow.commit()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT v FROM t")).scalars().all() == [2]
    engine.dispose()


class Order:
    def __init__(self, id: int) -> None:
        self.id = id


class Refused(Exception):
    pass


def test_a_domain_error_becomes_a_dead_letter_with_its_reason() -> None:
    @refusing(Refused)
    def handle(order: Order, delivery: object) -> None:
        raise Refused("amount is negative")

    with pytest.raises(PoisonMessage, match=r"^order 7: amount is negative$"):
        handle(Order(7), object())
    assert handle.__name__ == "handle"


def test_other_errors_stay_retryable() -> None:
    @refusing(Refused)
    def handle(order: Order, delivery: object) -> None:
        raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        handle(Order(7), object())


def test_pool_sizes_come_from_the_settings_and_apply_to_postgresql_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("DATABASE_POOL_SIZE", "2")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "3")
    options = ServiceSettings().engine_options()
    assert options == {"pool_size": 2, "max_overflow": 3}
    postgres = database.create_engine("postgresql+psycopg://u:p@127.0.0.1:9/none", **options)
    assert (postgres.pool.size(), postgres.pool._max_overflow) == (2, 3)  # type: ignore[attr-defined]
    database.create_engine(f"sqlite:///{tmp_path}/p.sqlite3", **options).dispose()


def test_a_refused_task_body_names_its_first_argument() -> None:
    @refusing(Refused)
    def pick(shipment_id: str) -> str:
        raise Refused(f"no shipment {shipment_id}")

    with pytest.raises(PoisonMessage, match=r"^SHP-1: no shipment SHP-1$"):
        pick("SHP-1")
