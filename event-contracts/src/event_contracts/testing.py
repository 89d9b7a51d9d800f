"""Test support: a real, throwaway RabbitMQ node and a fresh vhost per test; an in-memory bus;
scratch PostgreSQL databases.

``LocalRabbit`` starts a throwaway broker on a free loopback port: a container of the shop's
broker base image (``$SHOP_TEST_RABBITMQ_IMAGE``, RabbitMQ 4 with 4.3's strict defaults), so
integration tests of this package and of the services talk to the broker the shop runs.
``create_database`` and ``fresh_database`` give tests their own database on a PostgreSQL server
(``make db-tests``: the shop's), never a service's own (they need SQLAlchemy and a driver).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
from kombu.connection import Connection
from kombu.messaging import Producer

from event_contracts.delivery import Delivery
from event_contracts.event import Event
from event_contracts.generate import definitions, permissions
from event_contracts.subscriptions import Subscriptions
from event_contracts.topology import TOPOLOGY, Topology

#: The broker image integration tests run, one container per test session. `make` sets it to the
#: stack's own base image (the offline stand-in once `make offline` ran), so the packages are
#: tested on the broker the shop runs; the default is the official image compose defaults to.
IMAGE_VARIABLE = "SHOP_TEST_RABBITMQ_IMAGE"
DEFAULT_IMAGE = "rabbitmq:4.3-management"

#: What RabbitMQ 4.3 denies by default, denied on every node the tests start too (4.0 permits
#: them unless told): a client relying on one of them fails here first, not in production.
STRICT_4X_CONFIG = (
    "deprecated_features.permit.transient_nonexcl_queues = false\n"
    "deprecated_features.permit.global_qos = false\n"
    "deprecated_features.permit.queue_master_locator = false\n"
    "deprecated_features.permit.classic_queue_mirroring = false\n"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Any, *, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class LocalRabbit:
    """One RabbitMQ node in a throwaway container, its AMQP port on a free loopback port.

    ``rabbitmqctl`` runs inside it through ``docker exec`` as the broker's own user (as root it
    would create the Erlang cookie first, unreadable for the booting node).
    """

    def __init__(self, image: str | None = None) -> None:
        self.image = image or os.environ.get(IMAGE_VARIABLE) or DEFAULT_IMAGE
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rabbit-test-"))
        self.dir.chmod(0o755)  # the broker's own user reads definitions files from here
        self.container = f"rabbit-test-{self.port}-{uuid.uuid4().hex[:6]}"

    def start(self, timeout: float = 90) -> None:
        config = self.dir / "30-test.conf"
        config.write_text("loopback_users = none\nlog.console.level = warning\n" + STRICT_4X_CONFIG)
        config.chmod(0o644)
        started = subprocess.run(
            [
                "docker", "run", "-d", "--rm", "--name", self.container,
                "--label", "shop.test-broker=1",
                "-p", f"127.0.0.1:{self.port}:5672",
                "-v", f"{config}:/etc/rabbitmq/conf.d/30-test.conf:ro",
                "-v", f"{self.dir}:{self.dir}:ro",
                self.image,
            ],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if started.returncode != 0:
            raise RuntimeError(
                f"integration tests need a RabbitMQ container ({IMAGE_VARIABLE}={self.image}): "
                f"{started.stderr.strip()} (no registry? `make offline` builds a local image)"
            )

        def booted() -> bool:
            try:
                self.ctl("await_startup", "--timeout", "5")
            except RuntimeError:
                return False
            return True

        wait_until(booted, timeout=timeout, what=f"{self.image} to boot", interval=0.5)

    def ctl(self, *args: str) -> str:
        result = subprocess.run(
            ["docker", "exec", "-u", "rabbitmq", self.container, "rabbitmqctl", "-q", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout

    def version(self) -> str:
        """The broker's version, as the node reports it."""
        return self.ctl("version").strip()

    def url(self, user: str, password: str, vhost: str) -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/{vhost}"

    def stop(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.container], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


#: The PostgreSQL database tests run on, when given (``make db-tests`` sets it); else SQLite.
DATABASE_VARIABLE = "TEST_DATABASE_URL"


def create_database(url: str) -> None:
    """Create the PostgreSQL database ``url`` names unless it exists (a scratch database).

    Connects to the server's ``postgres`` database as ``url``'s user, who needs ``CREATEDB``.
    """
    from sqlalchemy import create_engine, make_url, text

    target = make_url(url)
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).first()
            if exists is None:
                quoted = server.dialect.identifier_preparer.quote(str(target.database))
                connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        server.dispose()


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new, empty database on ``url``'s PostgreSQL server; yields its URL, drops it after.

    For tests that need nothing else in the database (migrating from empty, say); the name is
    ``<url's database>_<random>``, so it also says which scratch database it came from.
    """
    from sqlalchemy import create_engine, make_url, text

    target = make_url(url)
    name = f"{target.database or 'test'}_{uuid.uuid4().hex[:10]}"
    fresh = target.set(database=name).render_as_string(hide_password=False)
    create_database(fresh)
    try:
        yield fresh
    finally:
        server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with server.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            server.dispose()


class RoundTrips:
    """Every round trip an engine's connections make to PostgreSQL, read from libpq's own trace.

    Counted on the wire (psycopg's ``PGconn.trace``), so nothing is missed: the pool's
    pre-ping, the ``BEGIN`` psycopg sends before a transaction's first statement, ``COMMIT`` and
    ``ROLLBACK``, statements psycopg has prepared (sent without their text), and the ORM's
    flushes, loads and refreshes. Creating one disposes the engine's pool, so every connection
    opened afterwards is traced from its start::

        trips = RoundTrips(engine)
        with trips.counting() as seen:
            handle(event)
        assert seen == ["BEGIN", "WITH processed_events,inbox_admissions", ..., "COMMIT"]

    Each round trip is named by :func:`describe_statement`. For tests and measurements only:
    tracing costs CPU.
    """

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self._files: list[Any] = []
        self._read: list[int] = []
        self._prepared: dict[str, str] = {}
        event.listen(engine, "connect", self._trace)
        engine.dispose()

    def _trace(self, dbapi_connection: Any, _: Any) -> None:
        from psycopg import pq

        trace = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the connection
        dbapi_connection.pgconn.trace(trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        self._files.append(trace)
        self._read.append(0)

    def _ends(self) -> list[int]:
        return [os.fstat(trace.fileno()).st_size for trace in self._files]

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        """The round trips made inside the block, in order (filled in when the block ends)."""
        starts = self._ends()
        for index, start in enumerate(starts):  # statements prepared before: learn their text
            list(self._round_trips(self._text(index, start)))
        seen: list[str] = []
        yield seen
        for index, end in enumerate(self._ends()):
            seen.extend(self._round_trips(self._text(index, end)))

    def _text(self, index: int, end: int) -> str:
        """File ``index``'s trace from where it was last read up to ``end``."""
        start, self._read[index] = self._read[index], end
        return os.pread(self._files[index].fileno(), end - start, start).decode(errors="replace")

    def _round_trips(self, trace: str) -> Iterator[str]:
        statement: str | None = None
        for sender, kind, rest in _messages(trace):
            if sender != "F":
                continue
            if kind == "Query":
                yield describe_statement(rest.strip().strip('"'))
            elif kind == "Parse" and (parsed := _PARSE.match(rest)):
                name, statement = parsed.group(1), parsed.group(2)
                if name:
                    self._prepared[name] = statement
            elif kind == "Bind" and statement is None and (bound := _BIND.match(rest)):
                statement = self._prepared.get(bound.group(1), f"prepared {bound.group(1)}")
            elif kind == "Sync":
                yield describe_statement(statement or "")
                statement = None


def _messages(trace: str) -> Iterator[tuple[str, str, str]]:
    """libpq's trace as (sender, message type, the rest): a statement's text may span lines."""
    message: list[str] | None = None
    for line in trace.splitlines():
        header = _MESSAGE.match(line)
        if header:
            if message:
                yield message[0], message[1], message[2]
            message = [header.group(1), header.group(2), line[header.end() :]]
        elif message:
            message[2] += "\n" + line
    if message:
        yield message[0], message[1], message[2]


_MESSAGE = re.compile(r"^([FB])\t\d+\t(\w+)\t?")
_PARSE = re.compile(r'^ ?"([^"]*)" "(.*)" \d+( \S+)*$', re.DOTALL)
_BIND = re.compile(r'^ ?"[^"]*" "([^"]*)"')
_CTE_NAMES = re.compile(r"(?:\bWITH|,)\s+(\w+)\s+AS\s*\(", re.IGNORECASE)
_TABLES = re.compile(r'\b(?:INSERT INTO|UPDATE|FROM|JOIN)\s+"?(\w+)', re.IGNORECASE)


def describe_statement(sql: str) -> str:
    """A round trip's short name: its verb, the tables it writes or reads, and its lock.

    ``INSERT INTO processed_events ... ON CONFLICT`` → ``INSERT processed_events``; a statement
    whose CTEs write more tables names them all (``WITH processed_events,inbox_admissions``);
    ``BEGIN``, ``COMMIT``, ``ROLLBACK`` stay as they are; the pool's pre-ping (an empty query) is ``ping``.
    """
    words = sql.split()
    if words == [";"]:
        return "ping"  # SQLAlchemy's pre-ping on PostgreSQL: an empty query
    if not words:
        return "?"  # a statement whose text the trace did not show
    common = {name.lower() for name in _CTE_NAMES.findall(sql)}
    tables = [t for t in dict.fromkeys(_TABLES.findall(sql)) if t.lower() not in common]
    if not tables:
        return " ".join(words).upper() if len(words) <= 2 else words[0].upper()
    lock = " FOR UPDATE" if re.search(r"\bFOR UPDATE\b", sql, re.IGNORECASE) else ""
    return f"{words[0].upper()} {','.join(tables)}{lock}"


@attrs.frozen
class TestVhost:
    __test__ = False  # not a pytest test class

    """A vhost with the whole topology imported and the service users' permissions set."""

    name: str
    rabbit: LocalRabbit

    def url(self, user: str = "admin") -> str:
        return self.rabbit.url(user, user, self.name)


@contextmanager
def topology_vhost(rabbit: LocalRabbit, topology: Topology = TOPOLOGY) -> Iterator[TestVhost]:
    """A fresh vhost with the generated definitions and least-privilege users; deleted after.

    ``topology``: a service not yet in :data:`TOPOLOGY` passes its own (``TOPOLOGY.including``).

    Users (password = user name) and permissions ride in the same definitions file, so setting
    up a vhost is one ``rabbitmqctl`` call (each call boots an Erlang VM: ~0.5 s).
    """
    name = f"t-{uuid.uuid4().hex[:10]}"
    generated = definitions(topology, vhost=name)
    rows = [
        {"user": "admin", "tags": "administrator", "configure": ".*", "write": ".*", "read": ".*"},
        *permissions(topology),
    ]
    generated["users"] = [
        {
            "name": row["user"],
            "password_hash": password_hash(row["user"]),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": row["tags"],
        }
        for row in rows
    ]
    generated["permissions"] = [
        {
            "user": row["user"],
            "vhost": name,
            "configure": row["configure"],
            "write": row["write"],
            "read": row["read"],
        }
        for row in rows
    ]
    path = rabbit.dir / f"{name}.json"
    path.write_text(json.dumps(generated))
    rabbit.ctl("import_definitions", str(path))
    try:
        yield TestVhost(name, rabbit)
    finally:
        rabbit.ctl("delete_vhost", name)


def password_hash(password: str) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


SEED_V1_LINES = ({"id": 1, "quantity": 2, "price": 3}, {"id": 2, "quantity": 1, "price": 4.5})


def seed_v1_message(
    order_id: int,
    lines: Any = SEED_V1_LINES,
    task_id: str | None = None,
    routing_key: str = "order.v1.submit",
) -> tuple[dict[str, Any], str]:
    """The seed article's ``order.submit()`` on the wire: headers and JSON body.

    A Celery protocol-2 task named by the routing key, the order (v1 shape: float prices, no
    currency) in kwargs ``instance``: what a producer written against the article sends.
    """
    task_id = task_id or str(uuid.uuid4())
    headers = {
        "lang": "py",
        "task": routing_key,
        "id": task_id,
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "eta": None,
        "expires": None,
    }
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    return headers, json.dumps([[], {"instance": {"id": order_id, "lines": list(lines)}}, embed])


def publish_plain(
    url: str,
    exchange: str,
    routing_key: str,
    body: str | bytes,
    *,
    headers: dict[str, Any] | None = None,
    content_type: str = "application/json",
) -> None:
    """Publish with plain kombu (no event-contracts): how a foreign or legacy producer sends."""
    with Connection(url) as conn:
        Producer(conn.channel()).publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            headers=headers or {},
            content_type=content_type,
            content_encoding="utf-8",
            declare=(),
        )


def publish_seed_v1(url: str, order_id: int, **kwargs: Any) -> str:
    """Publish :func:`seed_v1_message` to ``order`` with plain kombu; returns its task id."""
    headers, body = seed_v1_message(order_id, **kwargs)
    publish_plain(url, "order", headers["task"], body, headers=headers)
    return str(headers["id"])


def drain(url: str, queue: str, *, expect: int, timeout: float = 10.0) -> list[Any]:
    """Take (and ack) messages from ``queue`` until ``expect`` arrived; fail after ``timeout``."""
    got: list[Any] = []
    with Connection(url) as conn:
        simple = conn.SimpleQueue(queue, no_ack=False, queue_opts={"no_declare": True})

        def take() -> bool:
            while True:
                try:
                    message = simple.get(block=False)
                except simple.Empty:
                    return len(got) >= expect
                message.ack()
                got.append(message)

        wait_until(take, timeout=timeout, what=f"{expect} message(s) in {queue} (got {len(got)})")
        simple.close()
    return got


def queue_depth(url: str, queue: str) -> int:
    """Messages ready in ``queue`` (passive declare: never creates it)."""
    with Connection(url) as conn:
        _, count, _ = conn.channel().queue_declare(queue=queue, passive=True)
        return int(count)


@contextmanager
def running_worker(vhost: TestVhost, service: str, app: Any = None, **settings: Any) -> Iterator[Any]:
    """The service's real Celery worker (ShopConsumer, its queues, its user) in a thread.

    Pass the service's own ``app`` (made with ``broker_urls=[vhost.url("<svc>-service")]``) or
    let it make one; ``settings`` go to :func:`~event_contracts.runtime.create_app`.
    """
    from celery.contrib.testing.worker import start_worker

    from event_contracts.runtime import RetryPolicy, create_app

    if app is None:
        settings.setdefault("shop_retry_policy", RetryPolicy(max_retries=2, first_delay=0.2))
        app = create_app(
            service,
            broker_urls=[vhost.url(f"{service}-service")],
            worker_hijack_root_logger=False,
            **settings,
        )
    with start_worker(
        app,
        pool="solo",
        perform_ping_check=False,
        shutdown_timeout=20,
        without_heartbeat=True,
        hostname=f"{service}-service@{uuid.uuid4().hex[:8]}",
    ):
        yield app


@contextmanager
def subscribed(event: Event[Any], callback: Any) -> Iterator[None]:
    """Register ``callback`` on ``event`` for the duration of a test."""
    event.register_callback(callback)
    try:
        yield
    finally:
        event.unregister_callback(callback)


class InMemoryBus:
    """Publishes straight to the registered callbacks, in process: for services' unit tests.

    Pass it where a :class:`~event_contracts.runtime.publisher.Publisher` is expected; it
    records every event and, with ``deliver=True``, runs the callbacks as a worker would:
    the event's shared ones and those of ``subscriptions`` (an app's registry, or a new one).
    """

    def __init__(
        self, *, deliver: bool = False, consumer: str = "test", subscriptions: Subscriptions | None = None
    ) -> None:
        self.deliver, self.consumer = deliver, consumer
        self.subscriptions = subscriptions or Subscriptions()
        self.published: list[tuple[Event[Any], Any]] = []

    def publish(
        self, event: Event[Any], message: Any, *, correlation_id: str | None = None, headers: Any = None
    ) -> uuid.UUID:
        self.published.append((event, message))
        event_id: uuid.UUID = message.event_id
        if self.deliver:
            self.subscriptions.dispatch(
                event,
                message,
                Delivery(
                    event_id=event_id,
                    routing_key=event.routing_key,
                    consumer=self.consumer,
                    correlation_id=correlation_id,
                ),
            )
        return event_id

    def of(self, event: Event[Any]) -> list[Any]:
        """The messages published as ``event``."""
        return [message for e, message in self.published if e is event]
