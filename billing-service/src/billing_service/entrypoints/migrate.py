"""``billing-service-migrate``: upgrade the database to the newest schema and exit."""

from __future__ import annotations

import logging
import os

from billing_service.adapters import database


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    engine = database.create_engine()
    try:
        database.wait_until_reachable(engine)
        revision = database.migrate(engine)
    finally:
        engine.dispose()
    print(f"billing-service: database at revision {revision}")


if __name__ == "__main__":  # pragma: no cover
    main()
