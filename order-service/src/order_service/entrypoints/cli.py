"""``order-service migrate | provisioning``: the service's commands besides the worker.

``migrate``: wait for the database, upgrade it to the newest schema and exit (under the
advisory lock). ``provisioning``: print, as JSON, what the broker needs for this service, from
event-contracts' generators over the service's topology: its part of the definitions
(exchanges, queues with their policies, bindings into its queues) and its broker user's
permissions. Provisioning it on a running broker loads exactly this
(``templates/new_service.py provision``). A skeleton file: rendered from ``templates/service``,
never edited here (``make template-check``).
"""

from __future__ import annotations

import argparse
import json
import sys

from event_contracts.generate import permissions, service_definitions
from event_contracts.service_defaults import logging as service_logging

from order_service.adapters import database
from order_service.topology import NAME, SERVICE, TOPOLOGY


def provisioning() -> dict[str, object]:
    (grant,) = [row for row in permissions(TOPOLOGY) if row["user"] == SERVICE.user]
    return {"definitions": service_definitions(NAME, TOPOLOGY), "permissions": grant}


def migrate() -> str | None:
    engine = database.create_engine()
    try:
        database.wait_until_reachable(engine)
        return database.migrate(engine)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="order-service", description=__doc__)
    parser.add_argument("command", choices=["migrate", "provisioning"])
    args = parser.parse_args(argv)
    if args.command == "provisioning":
        json.dump(provisioning(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    service_logging.configure("order-service", "migrate")
    print(f"order-service: database at revision {migrate()}")
    return 0


def migrate_main() -> None:
    """``order-service-migrate``: the same as ``order-service migrate``."""
    raise SystemExit(main(["migrate"]))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
