"""Fixtures shared by every test: the service's own database, fresh per test.

SQLite file in ``tmp_path`` by default; with ``TEST_DATABASE_URL`` (``postgresql+psycopg://...``)
the tests run against PostgreSQL instead: the database is created if missing (``make db-tests``
points it at a scratch database on the stack's server), migrated once, every table emptied
before each test.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from flask import Flask
from sqlalchemy import create_engine, make_url, text
from werkzeug.serving import make_server

from order_service.adapters import orm
from order_service.adapters.database import migrate
from order_service.adapters.tokens import OidcSettings, TokenVerifier
from order_service.entrypoints.dev_issuer import DevIssuer
from order_service.entrypoints.dev_issuer import create_app as create_issuer_app

TABLES = (
    "idempotency_keys",
    "order_lines",
    "outbox",
    "processed_events",
    "inbox_admissions",
    "orders",
)


@pytest.fixture(scope="session")
def _postgres_migrated() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        _create_database(url)
        engine = create_engine(url)
        migrate(engine)
        engine.dispose()
    return url


def _create_database(url: str) -> None:
    target = make_url(url)
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
        ).first()
        if exists is None:
            connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    server.dispose()


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


# --- tokens: the dev issuer on a loopback port, and a verifier trusting it ----------------------

AUDIENCE = "shop-edge"


@attrs.define
class IssuerForTests:
    """The dev issuer served over real HTTP (discovery + JWKS), and tokens minted by it."""

    issuer: DevIssuer
    url: str

    def token(self, subject: str, *roles: str, **options: Any) -> str:
        return self.issuer.mint(subject, list(roles), **options)

    def bearer(self, subject: str, *roles: str, **options: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, *roles, **options)}"}

    def verifier(self, **changes: Any) -> TokenVerifier:
        return TokenVerifier(OidcSettings(issuer=self.url, audience=AUDIENCE, **changes))


@pytest.fixture(scope="session")
def dev_issuer() -> Iterator[IssuerForTests]:
    server = make_server("127.0.0.1", 0, Flask("placeholder"), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    issuer = DevIssuer(url, AUDIENCE)
    server.app = create_issuer_app(issuer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield IssuerForTests(issuer, url)
    server.shutdown()


@pytest.fixture(scope="session")
def verifier(dev_issuer: IssuerForTests) -> TokenVerifier:
    return dev_issuer.verifier()
