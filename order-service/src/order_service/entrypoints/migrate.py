"""``order-service-migrate``: bring the database schema to the newest revision, then exit."""

from __future__ import annotations

from order_service import bootstrap
from order_service.adapters.database import make_engine, migrate
from order_service.settings import Settings


def main() -> None:
    bootstrap.configure_logging("migrate")
    migrate(make_engine(Settings().database_url))


if __name__ == "__main__":
    main()
