"""The database work of one handling: round trips to PostgreSQL and CPU, per handling kind.

One order is 7 handlings: billing's submit; logistic's submit and its chain steps pick, pack,
dispatch; order-service's facts invoiced and dispatched. Each is a real use case of the
service (its handler, its unit of work, its repository and the inbox) against PostgreSQL,
with the broker left out (the publisher and the chain are no-ops), so what is measured is what
a handling costs besides Celery and RabbitMQ::

    python -m bench.handling_cost --service billing|logistic|order [-n 1000] [--runs 5]

Run it with the repository's test venv (``.venv-test/bin/python``: every service installed).
The database: ``--database-url``, default ``<service>_bench`` on the PostgreSQL of ``.env``'s
``POSTGRES_PORT`` (created and migrated if missing; its tables are emptied first). With
``--postgres-container`` (the compose project's ``postgres`` container) the server's CPU per
handling is read from the container's cgroup counter too.

For each kind it prints the round trips one handling makes (read on the wire from libpq's
trace, ``event_contracts.testing.RoundTrips``: ``BEGIN``, every statement, ``COMMIT``, and the
pool's pre-ping with ``--pre-ping``) and the CPU per handling of this process
(``time.process_time`` over ``-n`` handlings, the median of ``--runs``; the round trips are
counted on a separate engine, since tracing costs CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from event_contracts import Delivery, Order, OrderLine
from event_contracts.testing import RoundTrips, create_database
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.stack_cpu import _cgroup_counter

SERVICES = ("billing", "logistic", "order")
Handle = Callable[[int], None]
"""Handle one event about the order with this id."""


class _NoBroker:
    """The publisher and the chain, doing nothing: the broker is not what is measured here."""

    def publish(self, *_: Any, **__: Any) -> uuid.UUID:
        return uuid.uuid4()

    def start(self, *_: Any, **__: Any) -> None:
        return None


def _order(order_id: int) -> Order:
    return Order.create(
        id=order_id,
        customer_id="c-bench",
        currency="EUR",
        lines=(OrderLine(id=1, quantity=2, unit_price=Decimal("4.50")),),  # type: ignore[arg-type]
    )


def _delivery(consumer: str, routing_key: str) -> Delivery:
    return Delivery(event_id=uuid.uuid4(), routing_key=routing_key, consumer=consumer)


class Service:
    """A service's handlings over one engine: ``kinds`` in pipeline order, ``prepare`` seeds."""

    kinds: tuple[str, ...]

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def prepare(self, order_ids: list[int]) -> None:
        """What must exist before the first kind runs (not measured)."""

    def handler(self, kind: str) -> Handle:
        raise NotImplementedError


class Billing(Service):
    kinds = ("submit",)

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        from billing_service.bootstrap import bootstrap

        self.billing = bootstrap(publisher=_NoBroker(), engine=engine)

    def handler(self, kind: str) -> Handle:
        def submit(order_id: int) -> None:
            order = _order(order_id)
            delivery = Delivery(order.event_id, "order.v2.submit", consumer="billing")
            self.billing.invoice_order(order, delivery)

        return submit


class Logistic(Service):
    kinds = ("submit", "pick", "pack", "dispatch")

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        from logistic_service.adapters.unit_of_work import SqlAlchemyUnitOfWork, session_factory
        from logistic_service.bootstrap import bootstrap

        self.handlers = bootstrap(
            uow=partial(SqlAlchemyUnitOfWork, session_factory(engine)),
            publisher=_NoBroker(),
            pipeline=_NoBroker(),
        )

    def handler(self, kind: str) -> Handle:
        from logistic_service.domain.model import shipment_id_for

        if kind == "submit":

            def submit(order_id: int) -> None:
                order = _order(order_id)
                delivery = Delivery(order.event_id, "order.v2.submit", consumer="logistic")
                self.handlers.ship_order(order, delivery)

            return submit
        step = {"pick": self.handlers.pick, "pack": self.handlers.pack}.get(kind)
        if step is not None:
            return lambda order_id: (step(shipment_id_for(order_id)), None)[1]
        return lambda order_id: (self.handlers.dispatch(shipment_id_for(order_id)), None)[1]


class OrderFacts(Service):
    kinds = ("invoiced", "dispatched")

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        from order_service.adapters.order_ids import SequenceBlocks
        from order_service.adapters.unit_of_work import SqlAlchemyUnitOfWork, session_factory

        sessions = session_factory(engine)
        next_id = SequenceBlocks(engine)
        self.uow = lambda: SqlAlchemyUnitOfWork(sessions, next_id)
        self.ids: dict[int, int] = {}

    def prepare(self, order_ids: list[int]) -> None:
        from order_service.service_layer import commands, handlers

        for order_id in order_ids:
            placed = handlers.place_order(
                commands.PlaceOrder(
                    customer_id="c-bench",
                    currency="EUR",
                    lines=(commands.NewLine(1, 2, Decimal("4.50")),),
                ),
                self.uow(),
            )
            self.ids[order_id] = placed.order_id

    def handler(self, kind: str) -> Handle:
        from order_service.service_layer import commands, handlers

        fact, routing_key = {
            "invoiced": (commands.Fact.INVOICED, "billing.v1.invoiced"),
            "dispatched": (commands.Fact.DISPATCHED, "logistic.v1.shipment_dispatched"),
        }[kind]

        def record(order_id: int) -> None:
            delivery = _delivery("order", routing_key)
            command = commands.RecordFact(order_id=self.ids[order_id], fact=fact, delivery=delivery)
            handlers.record_fact(command, self.uow())

        return record


def _engine(service: str, url: str, **options: Any) -> Engine:
    """The service's engine as its worker makes it (its settings' engine options: pool sizes,
    no pre-ping), its schema migrated; ``options`` win."""
    module = {"billing": "billing_service", "logistic": "logistic_service", "order": "order_service"}
    database = __import__(f"{module[service]}.adapters.database", fromlist=["database"])
    orm = __import__(f"{module[service]}.adapters.orm", fromlist=["orm"])
    settings = __import__(f"{module[service]}.settings", fromlist=["settings"])
    orm.start_mappers()
    deployed = settings.Settings(database_url=url).engine_options(options)
    engine: Engine = database.create_engine(url, **deployed)
    database.migrate(engine)
    return engine


def _empty(service: str, engine: Engine) -> None:
    module = {"billing": "billing_service", "logistic": "logistic_service", "order": "order_service"}
    orm = __import__(f"{module[service]}.adapters.orm", fromlist=["orm"])
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(orm.metadata.tables)} CASCADE"))


def _service(service: str, engine: Engine) -> Service:
    return {"billing": Billing, "logistic": Logistic, "order": OrderFacts}[service](engine)


def _new_ids(count: int) -> list[int]:
    return [uuid.uuid4().int >> 80 for _ in range(count)]


class PostgresCpu:
    """The PostgreSQL container's cumulative CPU seconds, from its cgroup counter."""

    def __init__(self, container: str) -> None:
        inspected = json.loads(
            subprocess.run(
                ["docker", "inspect", container], check=True, capture_output=True, text=True
            ).stdout
        )[0]
        counter = _cgroup_counter(inspected)
        if counter is None:
            sys.exit(f"no cgroup CPU counter readable for container {container}")
        self.counter = counter

    def read(self) -> float:
        return self.counter.read()


def round_trips(service: str, url: str, warmup: int = 6, **options: Any) -> dict[str, list[str]]:
    """Per kind, the round trips of one handling in a warm process (on an engine of its own)."""
    engine = _engine(service, url, **options)
    trips = RoundTrips(engine)
    handlings = _service(service, engine)
    ids = _new_ids(warmup + 1)
    handlings.prepare(ids)
    seen: dict[str, list[str]] = {}
    for kind in handlings.kinds:
        handle = handlings.handler(kind)
        for order_id in ids[:-1]:  # psycopg prepares a statement after 5 runs: steady state
            handle(order_id)
        with trips.counting() as last:
            handle(ids[-1])
        seen[kind] = last
    engine.dispose()
    return seen


def cpu_runs(
    service: str, url: str, count: int, runs: int, postgres: PostgresCpu | None, **options: Any
) -> dict[str, dict[str, list[float]]]:
    """Per kind and run: this process's CPU, the wall time and the server's CPU, ms per handling."""
    engine = _engine(service, url, **options)
    handlings = _service(service, engine)
    warm = _new_ids(20)
    handlings.prepare(warm)
    for kind in handlings.kinds:  # connections, compiled-statement caches, prepared statements
        for order_id in warm:
            handlings.handler(kind)(order_id)
    out: dict[str, dict[str, list[float]]] = {
        kind: {"cpu_ms": [], "wall_ms": [], "postgres_ms": []} for kind in handlings.kinds
    }
    for _ in range(runs):
        ids = _new_ids(count)
        handlings.prepare(ids)
        for kind in handlings.kinds:
            handle = handlings.handler(kind)
            server = postgres.read() if postgres else 0.0
            wall, cpu = time.perf_counter(), time.process_time()
            for order_id in ids:
                handle(order_id)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            figures = out[kind]
            figures["cpu_ms"].append(cpu * 1000 / count)
            figures["wall_ms"].append(wall * 1000 / count)
            if postgres:
                figures["postgres_ms"].append((postgres.read() - server) * 1000 / count)
    engine.dispose()
    return out


def _default_url(service: str) -> str:
    env = dict(_dotenv(Path(".env")), **os.environ)
    user, password = env.get("POSTGRES_USER", "postgres"), env.get("POSTGRES_PASSWORD", "postgres-dev")
    host, port = env.get("INFRA_BIND", "127.0.0.1"), env.get("POSTGRES_PORT", "5432")
    return f"postgresql+psycopg://{user}:{password}@{host}:{port}/{service}_bench"


def _dotenv(path: Path) -> Iterator[tuple[str, str]]:
    if path.is_file():
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.lstrip().startswith("#"):
                yield name.strip(), value.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.handling_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--service", choices=SERVICES, required=True)
    parser.add_argument("--database-url", help="default: <service>_bench on .env's POSTGRES_PORT")
    parser.add_argument("-n", "--handlings", type=int, default=1000, help="per kind and run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres-container", help="e.g. shopdbcost-postgres-1: its CPU too")
    parser.add_argument(
        "--pre-ping",
        action="store_true",
        help="the engine with pool_pre_ping (a round trip per handling; the workers run without)",
    )
    parser.add_argument("--out", type=Path, help="the figures as JSON")
    args = parser.parse_args(argv)
    url = args.database_url or _default_url(args.service)
    create_database(url)
    _empty(args.service, _engine(args.service, url))
    options = {"pool_pre_ping": True} if args.pre_ping else {}
    trips = round_trips(args.service, url, **options)
    postgres = PostgresCpu(args.postgres_container) if args.postgres_container else None
    runs = cpu_runs(args.service, url, args.handlings, args.runs, postgres, **options)
    result: dict[str, Any] = {
        "service": args.service,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "handlings_per_run": args.handlings,
        "pre_ping": args.pre_ping,
        "kinds": {},
    }
    print(
        f"{args.service}: {args.runs} runs of {args.handlings} handlings per kind (medians; runs in brackets)"
    )
    for kind, trip in trips.items():
        figures = runs[kind]
        medians = {name: statistics.median(v) for name, v in figures.items() if v}
        result["kinds"][kind] = {"round_trips": trip, "medians": medians, "runs": figures}
        pg = f", postgres {medians['postgres_ms']:.2f} ms" if "postgres_ms" in medians else ""
        spread = ", ".join(f"{v:.2f}" for v in figures["cpu_ms"])
        print(
            f"  {kind:<10} {len(trip)} round trips; CPU {medians['cpu_ms']:.2f} ms [{spread}], "
            f"wall {medians['wall_ms']:.2f} ms{pg}"
        )
        print(f"             {' | '.join(trip)}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
