"""Alembic environment: the connection comes from ``migrate()``, else from ``DATABASE_URL``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from logistic_service.adapters.orm import metadata
from logistic_service.config import Settings

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url


if context.is_offline_mode():
    context.configure(url=url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    run(given)
else:
    engine = create_engine(url(), poolclass=NullPool)
    with engine.connect() as own:
        run(own)
        own.commit()
