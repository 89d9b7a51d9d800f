"""Wiring: settings → engine, unit of work, broker app, billing gateway, relay. Nothing else
builds adapters, so tests swap any of them by passing their own; unit tests call
``tests/fakes.py``'s ``bootstrap_test_app()``, the same wiring over fakes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
from amqp.exceptions import ConnectionError as AmqpConnectionError
from amqp.exceptions import MessageNacked
from celery import Celery
from event_contracts import Publisher, RetryPolicy, RpcClient, create_app
from event_contracts.service_defaults import logging as service_logging
from event_contracts.service_defaults import metrics
from kombu.connection import Connection
from kombu.exceptions import OperationalError
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from order_service.adapters import database, orm
from order_service.adapters.billing import RpcBilling
from order_service.adapters.notifications import OutboxListener
from order_service.adapters.order_ids import SequenceBlocks
from order_service.adapters.outbox import SqlOutboxStore
from order_service.adapters.tokens import OidcSettings, TokenVerifier
from order_service.adapters.unit_of_work import SqlAlchemyUnitOfWork, session_factory
from order_service.service_layer.ports import (
    AbstractBilling,
    AbstractUnitOfWork,
    OutboxStore,
    PayloadPublisher,
    Verifier,
)
from order_service.service_layer.relay import Backoff, Relay
from order_service.settings import Settings

SERVICE = "order"
SERVICE_NAME = "order-service"
BROKER_UNREACHABLE = (OSError, OperationalError, AmqpConnectionError, MessageNacked)
"""Publish errors that say nothing about the row: no node answered, or none could take any
message (a nack, e.g. while a quorum queue elects its leader). kombu's and py-amqp's types;
event-contracts' ``PublishFailed`` carries them as its cause."""


@attrs.define
class Services:
    """order-service's use cases bound to their adapters, the template's ``Handlers`` grown for
    an edge: besides a fresh unit of work per use case (``uow()``), the billing gateway and the
    token check, the edge, the outbox relay and the facts worker take from it what they run on
    (settings, the engine for readiness, LISTEN and migrations, the broker app, the outbox
    store). Tests build it over fakes with ``tests/fakes.py``'s ``bootstrap_test_app()``."""

    settings: Settings
    engine: Engine
    """Built from ``settings``; it connects on first use, so a Services over fakes never does."""
    session_factory: sessionmaker[Session]
    celery_app: Celery
    billing: AbstractBilling
    next_order_id: Callable[[], int] | None = None
    """PostgreSQL: ids drawn from the sequence in blocks; None: the INSERT assigns them."""
    verifier: Verifier | None = None
    """None: no issuer configured (the relay and the worker need none; the API refuses)."""
    uow_factory: Callable[[], AbstractUnitOfWork] = attrs.field(
        default=attrs.Factory(lambda self: self.sql_uow, takes_self=True)
    )
    """A fresh unit of work per use case: the database's unless ``bootstrap(uow=...)``."""
    outbox_store_factory: Callable[[], OutboxStore] = attrs.field(
        default=attrs.Factory(lambda self: self.sql_outbox_store, takes_self=True)
    )
    """What the relay, ``/readyz`` and ``order-service-outbox`` read and change."""

    def uow(self) -> AbstractUnitOfWork:
        return self.uow_factory()

    def outbox_store(self) -> OutboxStore:
        return self.outbox_store_factory()

    def sql_uow(self) -> AbstractUnitOfWork:
        """A unit of work over the engine's database (``next_order_id`` read at each call)."""
        return SqlAlchemyUnitOfWork(self.session_factory, self.next_order_id)

    def sql_outbox_store(self) -> OutboxStore:
        """The outbox table (row locks held while publishing on PostgreSQL)."""
        postgres = self.engine.dialect.name == "postgresql"
        return SqlOutboxStore(self.session_factory, hold_locks=postgres)


def configure_logging(role: str) -> None:
    """The platform's log format (``LOG_FORMAT``, ``LOG_LEVEL``), lines tagged with ``role``."""
    service_logging.configure(SERVICE_NAME, role)


def bootstrap(
    settings: Settings | None = None,
    *,
    run_migrations: bool = True,
    celery_app: Celery | None = None,
    billing: AbstractBilling | None = None,
    verifier: Verifier | None = None,
    uow: Callable[[], AbstractUnitOfWork] | None = None,
    outbox_store: Callable[[], OutboxStore] | None = None,
    **engine_options: Any,
) -> Services:
    """The use cases over the database of ``settings`` (default: from the environment), or over
    ``uow`` and ``outbox_store`` (factories; tests pass fakes and ``run_migrations=False``, and
    nothing connects). ``celery_app``, ``billing``, ``verifier``: given ones replace the real
    adapters the same way."""
    settings = settings or Settings()
    orm.start_mappers()
    engine = database.create_engine(
        settings.database_url, **settings.engine_options(engine_options)
    )
    if run_migrations:
        database.migrate(engine)
    app = celery_app or create_app(SERVICE, broker_urls=list(settings.broker_urls) or None)
    services = Services(
        settings=settings,
        engine=engine,
        session_factory=session_factory(engine),
        celery_app=app,
        billing=billing or RpcBilling(RpcClient(app), timeout=settings.invoice_timeout),
        next_order_id=SequenceBlocks(engine) if engine.dialect.name == "postgresql" else None,
        verifier=verifier or token_verifier(settings),
    )
    if uow is not None:
        services.uow_factory = uow
    if outbox_store is not None:
        services.outbox_store_factory = outbox_store
    return services


def token_verifier(settings: Settings) -> TokenVerifier | None:
    """The bearer-token check for the configured issuer; None when ``OIDC_ISSUER`` is unset."""
    if not settings.oidc_issuer:
        return None
    if not settings.oidc_audience:
        raise RuntimeError(f"OIDC_ISSUER is {settings.oidc_issuer}, but OIDC_AUDIENCE is not set")
    return TokenVerifier(
        OidcSettings(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url or None,
            leeway=settings.oidc_leeway,
            roles_claim=settings.oidc_roles_claim,
            jwks_cooldown=settings.oidc_jwks_cooldown,
        )
    )


def build_relay(
    services: Services,
    publisher: PayloadPublisher | None = None,
    heartbeat_file: Path | None = None,
) -> Relay:
    settings = services.settings
    postgres = services.engine.dialect.name == "postgresql"
    listener = OutboxListener(services.engine.url) if postgres else None
    return Relay(
        store=services.outbox_store(),
        publisher=publisher or Publisher(services.celery_app),
        batch_size=settings.relay_batch_size,
        publishers=settings.relay_publishers,
        poll_interval=settings.relay_poll_interval,
        backoff=Backoff(settings.relay_backoff_start, settings.relay_backoff_max),
        wait_for_work=listener.wait if listener else None,
        heartbeat=_toucher(heartbeat_file) if heartbeat_file else (lambda: None),
        broker_check=lambda: check_broker(services.celery_app, settings.readiness_timeout),
        retention=timedelta(hours=settings.outbox_retention_hours)
        if settings.outbox_retention_hours > 0
        else None,
        row_retries=RetryPolicy(
            max_retries=settings.relay_row_retries,
            first_delay=settings.relay_row_retry_start,
            max_delay=settings.relay_row_retry_max,
        ),
        unreachable_errors=BROKER_UNREACHABLE,
        on_publish=metrics.observe_relay_publish,
    )


def check_broker(app: Celery, timeout: float) -> None:
    """Connect to the first broker node that answers within ``timeout`` s, or raise."""
    urls = str(app.conf.broker_url).split(";")
    with Connection(
        app.conf.broker_url,
        connect_timeout=timeout,  # type: ignore[no-untyped-call]
        failover_strategy="round-robin",
    ) as connection:
        connection.ensure_connection(
            max_retries=len(urls), interval_start=0, interval_step=0, timeout=timeout * len(urls)
        )


def _toucher(path: Path, every: float = 5.0) -> Callable[[], None]:
    """Touch ``path`` at most every ``every`` seconds (the container health check reads it)."""
    last = [0.0]

    def touch() -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            path.touch()
            last[0] = now

    return touch
