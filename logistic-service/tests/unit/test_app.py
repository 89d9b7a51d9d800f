"""The Celery app's wiring, without a broker: routes, the one beat job, the registered tasks."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery
from celery.beat import BeatLazyFunc

from logistic_service.adapters.pipeline import (
    DISPATCH,
    PACK,
    PICK,
    RESUME_STUCK_SHIPMENTS,
    STEPS,
)
from logistic_service.entrypoints.celery_app import create_app
from logistic_service.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def app(tmp_path: Path) -> Celery:
    # Creating the app connects to nothing (neither the broker nor the database).
    settings = Settings(database_url=f"sqlite:///{tmp_path}/unused.sqlite3")
    return create_app(settings=settings, broker_urls=["amqp://nobody:nothing@127.0.0.1:1/shop"])


def test_the_warehouse_steps_are_own_tasks_in_order() -> None:
    assert STEPS == (PICK, PACK, DISPATCH)
    assert all(step.startswith("logistic.internal.") for step in (*STEPS, RESUME_STUCK_SHIPMENTS))


def test_it_handles_every_order_version_and_its_own_tasks(app: Celery) -> None:
    own = {name for name in app.tasks if not name.startswith("celery.")}
    assert own == {
        "order.v1.submit", "order.v2.submit", "order.v1.chargeback", "order.v2.chargeback",
        PICK, PACK, DISPATCH, RESUME_STUCK_SHIPMENTS,
    }  # fmt: skip


@pytest.mark.parametrize("task", [*STEPS, RESUME_STUCK_SHIPMENTS])
def test_own_tasks_go_to_the_internal_exchange_and_queue(app: Celery, task: str) -> None:
    route = app.amqp.router.route({}, task)
    assert (route["exchange"], route["routing_key"], route["queue"].name) == (
        "logistic.internal",
        "logistic.internal",
        "logistic.internal",
    )


def test_exactly_one_periodic_job_every_30_seconds(app: Celery) -> None:
    [(name, entry)] = app.conf.beat_schedule.items()
    assert (name, entry["task"], entry["schedule"]) == (
        "resume-stuck-shipments",
        RESUME_STUCK_SHIPMENTS,
        30.0,
    )
    sent_at = entry["kwargs"]["sent_at"]  # evaluated by beat at each sending
    assert isinstance(sent_at, BeatLazyFunc)
    assert abs(datetime.fromisoformat(sent_at()) - datetime.now(UTC)) < timedelta(seconds=5)
    assert pickle.loads(pickle.dumps(entry))  # beat keeps its entries in a shelve
    assert "expires" not in entry.get("options", {})  # expired messages would land in the DLQ
    assert app.conf.beat_scheduler.endswith("HeartbeatScheduler")
    assert app.conf.beat_max_loop_interval == 10  # the health check allows 45 s


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DATABASE_URL",
        "RESUME_EVERY_SECONDS",
        "RESUME_IDLE_SECONDS",
        "RESUME_BATCH_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    assert Settings() == Settings(database_url="sqlite:///./logistic_service.sqlite3")
    for name, value in {
        "DATABASE_URL": "postgresql+psycopg://u:p@db/logistic_service",
        "RESUME_EVERY_SECONDS": "5",
        "RESUME_IDLE_SECONDS": "90",
        "RESUME_BATCH_SIZE": "7",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (
        settings.database_url,
        settings.resume_every,
        settings.resume_idle_for,
        settings.resume_batch_size,
    ) == (
        "postgresql+psycopg://u:p@db/logistic_service",
        timedelta(seconds=5),
        timedelta(seconds=90),
        7,
    )
