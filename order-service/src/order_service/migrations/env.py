"""Alembic environment: migrates the connection it is given, else ``DATABASE_URL`` (skeleton file).

The service runs migrations itself at start-up, under PostgreSQL's advisory lock
(``order_service.adapters.database.migrate``); ``alembic -c alembic.ini ...`` works too,
for development.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from order_service.adapters import database
from order_service.adapters.orm import metadata

config = context.config
target_metadata = metadata

if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)  # the alembic CLI


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL for ``DATABASE_URL``'s dialect."""
    context.configure(
        url=database.database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def migrate(connection: Connection) -> None:
    # One transaction for reading the version and changing the schema, on SQLite too: its DDL
    # is transactional once pysqlite leaves BEGIN to us (database.create_engine does), and
    # BEGIN IMMEDIATE then makes concurrent migrators wait for each other.
    # SQLite alters tables by copying them: autogenerate writes batch operations there.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transactional_ddl=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        migrate(given)
        return
    engine = database.create_engine()
    try:
        with engine.connect() as connection, database.MIGRATIONS.lock(connection):
            migrate(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
