"""``bootstrap()``'s wiring: the database's adapters by default, the given factories instead."""

from __future__ import annotations

import pytest

from order_service.adapters.outbox import SqlOutboxStore
from order_service.adapters.unit_of_work import SqlAlchemyUnitOfWork
from order_service.bootstrap import bootstrap
from order_service.settings import Settings
from tests.fakes import bootstrap_test_app

pytestmark = pytest.mark.unit


def test_by_default_the_use_cases_run_on_the_database(database_url: str) -> None:
    services = bootstrap(Settings(database_url=database_url), run_migrations=False)
    try:
        assert isinstance(services.uow(), SqlAlchemyUnitOfWork)
        assert isinstance(services.outbox_store(), SqlOutboxStore)
    finally:
        services.engine.dispose()


def test_the_test_app_runs_them_on_its_fakes() -> None:
    app = bootstrap_test_app()

    assert app.services.uow() is app.uow
    assert app.services.uow_factory() is app.uow  # what the facts worker subscribes with
    assert app.services.outbox_store() is app.outbox
    assert app.services.billing is app.billing
    assert app.services.verifier is None
