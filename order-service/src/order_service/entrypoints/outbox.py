"""``order-service-outbox``: what an operator needs for events the relay parked.

The relay parks an outbox row the broker kept refusing (no queue bound for its routing key, a
message the broker rejects) after its retries: the row is kept with its last error and attempt
count, and the later events of its order wait behind it. Once the cause is fixed (topology
imported, binding added), requeue it and the relay publishes it, then the order's later events::

    order-service-outbox parked                 # one line per parked row
    order-service-outbox requeue --row 17       # these rows
    order-service-outbox requeue --order 1042   # every parked row of these orders
    order-service-outbox requeue --all

A requeued row gets a fresh count of attempts; its ``last_error`` stays until it is published.
The command migrates nothing and needs no broker: only ``DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy.orm import sessionmaker

from order_service import bootstrap
from order_service.adapters import database
from order_service.adapters.outbox import SqlOutboxStore
from order_service.service_layer.ports import OutboxStore
from order_service.settings import Settings


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="order-service-outbox", description="Inspect and requeue parked outbox events."
    )
    commands = cli.add_subparsers(dest="command", required=True)
    commands.add_parser("parked", help="list the parked rows (id, order, routing key, error)")
    requeue = commands.add_parser("requeue", help="give parked rows to the relay again")
    chosen = requeue.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--row", type=int, nargs="+", default=[], help="outbox row ids")
    chosen.add_argument("--order", type=int, nargs="+", default=[], help="order ids")
    chosen.add_argument("--all", action="store_true", help="every parked row")
    return cli


def run(store: OutboxStore, argv: Sequence[str]) -> int:
    """Do what ``argv`` asks; prints the result, returns the exit status."""
    args = parser().parse_args(argv)
    if args.command == "parked":
        rows = store.parked()
        for row in rows:
            print(
                f"row {row.id}\torder {row.order_id}\t{row.routing_key}\tevent {row.event_id}\t"
                f"attempts {row.attempts}\tparked {row.parked_at.isoformat()}\t{row.last_error}"
            )
        print(f"{len(rows)} parked row(s)")
        return 0
    count = store.requeue(row_ids=args.row, order_ids=args.order, everything=args.all)
    print(f"requeued {count} row(s)")
    return 0 if count or args.all else 1


def main(argv: Sequence[str] | None = None) -> None:
    bootstrap.configure_logging("outbox-cli")
    engine = database.create_engine(Settings().database_url)
    try:
        postgres = engine.dialect.name == "postgresql"
        store = SqlOutboxStore(sessionmaker(engine), hold_locks=postgres)
        status = run(store, sys.argv[1:] if argv is None else argv)
    finally:
        engine.dispose()
    sys.exit(status)


if __name__ == "__main__":
    main()
