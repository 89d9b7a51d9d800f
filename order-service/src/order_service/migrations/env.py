"""Alembic environment: migrations run on the connection the service hands over (see
``order_service.adapters.database.migrate``), or on ``DATABASE_URL`` from the alembic CLI."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from order_service.adapters.orm import metadata
from order_service.settings import Settings


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    from order_service.adapters.database import make_engine

    engine = make_engine(Settings().database_url)
    with engine.connect() as connection:
        run(connection)
        connection.commit()
