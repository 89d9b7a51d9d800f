"""The least-privilege matrix: each service user tries publish, consume and declare on every
exchange and queue, live, and the outcome is compared with what the generated permissions say.

Each :class:`Probe` is one row. Two things must hold for it:

* the generated permissions (:func:`~event_contracts.generate.permissions`) grant the action
  exactly when the ownership rule below intends it (so a grant that lets a user reach a queue
  it has no business in fails the row even before the broker is asked), and
* the broker does exactly that: a granted publish is confirmed and the message arrives in
  every queue its routing key leads to; a granted consume receives a message put there; a
  granted declare succeeds. A refused one gets ACCESS_REFUSED and nothing arrives anywhere.

The ownership rule: a service user may write only on exchanges all of whose routes end in
queues it may feed (write is granted per exchange, whatever the routing key). It may feed the
queues bound to exchanges named after it (its subscribers' queues, its own retry, DLQ and
internal queues), the ``.sync`` queues of services it calls and the reply queues of services
calling it. It may read only the queues its workers consume and its own reply queues, and
declare only its own reply queues. Publishing through the default exchange (``amq.default``)
is tried with every queue's name as routing key. The same rows run against one test node
(event-contracts' integration tests) and against the live cluster (the e2e suite), each time
in a throwaway vhost holding the generated topology, so no row ever feeds a real queue.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import Any, Literal

import attrs
from amqp.basic_message import Message
from amqp.exceptions import AccessRefused
from kombu.connection import Connection

from event_contracts.generate import definitions, permissions
from event_contracts.runtime.rpc_client import REPLY_QUEUE_OPTIONS, declare_reply_queue
from event_contracts.topology import TOPOLOGY, Topology

DEFAULT_EXCHANGE = "amq.default"
"""The default exchange (``""`` on the wire) by the name permissions are checked against."""
MATRIX_REPLY_SUFFIX = "0" * 32
"""The suffix of the one reply queue per caller the matrix declares (a real one is random)."""
ARRIVAL_TIMEOUT = 5.0

Action = Literal["publish", "consume", "declare"]


@attrs.frozen
class Probe:
    """One row: ``user`` tries ``action`` on ``resource``; ``granted`` by the generated
    permissions, ``intended`` by the ownership rule; a publish reaches ``destinations``."""

    user: str
    action: Action
    resource: str
    kind: Literal["exchange", "queue"]
    granted: bool
    intended: bool
    routing_key: str = ""
    destinations: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        if self.action == "publish":
            return f"{self.user} publish {self.resource or DEFAULT_EXCHANGE}:{self.routing_key}"
        return f"{self.user} {self.action} {self.kind} {self.resource}"


@attrs.frozen
class Outcome:
    """What the broker did: refused (ACCESS_REFUSED) or not, and where the message arrived."""

    refused: bool
    arrived: tuple[str, ...] = ()
    detail: str = ""
    still_queued: bool = False
    """consume: the message put in the queue for the user was still there afterwards."""


def _topic_matches(binding_key: str, routing_key: str) -> bool:
    words = ["[^.]+" if w == "*" else ".*" if w == "#" else re.escape(w) for w in binding_key.split(".")]
    return re.fullmatch(r"\.".join(words), routing_key) is not None


def _sample_key(binding_key: str) -> str:
    """A routing key that a binding key matches (``order.*.submit`` → ``order.v9.submit``)."""
    return ".".join("v9" if w == "*" else "x" if w == "#" else w for w in binding_key.split("."))


def reply_queues(topology: Topology = TOPOLOGY) -> dict[str, str]:
    """The matrix's reply queue per caller service name."""
    return {s.name: s.reply_queue(MATRIX_REPLY_SUFFIX) for s in topology.services if s.calls}


def _routes(topology: Topology) -> list[tuple[str, str, tuple[str, ...]]]:
    """(exchange, routing key, queues it reaches) for every binding, every reply queue and the
    default exchange with every queue's name."""
    generated = definitions(topology)
    types = {x["name"]: x["type"] for x in generated["exchanges"]}
    bindings = [(b["source"], b["routing_key"], b["destination"]) for b in generated["bindings"]]
    queues = [q["name"] for q in generated["queues"]]
    for caller, queue in reply_queues(topology).items():
        bindings.append((topology.service(caller).reply_exchange, queue, queue))
        queues.append(queue)
    routes: dict[tuple[str, str], tuple[str, ...]] = {}
    for source, binding_key, _ in bindings:
        key = _sample_key(binding_key) if types[source] == "topic" else binding_key
        routes[(source, key)] = tuple(
            sorted(
                d
                for s, k, d in bindings
                if s == source and (_topic_matches(k, key) if types[source] == "topic" else k == key)
            )
        )
    for queue in queues:
        routes[("", queue)] = (queue,)
    return [(exchange, key, dests) for (exchange, key), dests in routes.items()]


def _may_feed(topology: Topology, service: str) -> set[str]:
    svc = topology.service(service)
    own = {svc.exchange, svc.retry_exchange, svc.dead_letter_exchange, svc.internal}
    fed = {b["destination"] for b in definitions(topology)["bindings"] if b["source"] in own}
    fed |= {topology.service(callee).sync_queue for callee in svc.calls}
    if svc.answers_sync:
        fed |= {reply_queues(topology)[caller.name] for caller in topology.callers_of(service)}
    return fed


def _own_reply_queues(topology: Topology, service: str) -> set[str]:
    queue = reply_queues(topology).get(service)
    return {queue} if queue else set()


def probes(topology: Topology = TOPOLOGY) -> list[Probe]:
    """Every row of the matrix, generated from the topology (no broker needed)."""
    generated = definitions(topology)
    exchanges = [(x["name"], x["type"]) for x in generated["exchanges"]]
    queues = [q["name"] for q in generated["queues"]] + list(reply_queues(topology).values())
    routes = _routes(topology)
    rows: list[Probe] = []
    for grant in permissions(topology):
        user = grant["user"]
        service = next(s.name for s in topology.services if s.user == user)
        feeds, reads = _may_feed(topology, service), {*topology.worker_queues(service)}
        own_replies = _own_reply_queues(topology, service)
        reads |= own_replies

        def allows(permission: str, name: str, grant: dict[str, str] = grant) -> bool:
            return re.search(grant[permission], name) is not None

        # write is per exchange: intended only if nothing the exchange routes to is off limits
        writable = {x for x, _, _ in routes} - {x for x, _, dests in routes if not set(dests) <= feeds}
        for exchange, key, dests in routes:
            rows.append(
                Probe(
                    user,
                    "publish",
                    exchange,
                    "exchange",
                    granted=allows("write", exchange or DEFAULT_EXCHANGE),
                    intended=exchange in writable,
                    routing_key=key,
                    destinations=dests,
                )
            )
        for queue in queues:
            rows.append(Probe(user, "consume", queue, "queue", allows("read", queue), queue in reads))
        for exchange, _ in exchanges:
            rows.append(Probe(user, "declare", exchange, "exchange", allows("configure", exchange), False))
        for queue in queues:
            rows.append(
                Probe(user, "declare", queue, "queue", allows("configure", queue), queue in own_replies)
            )
    return rows


class MatrixRun:
    """Runs probes in a vhost that holds the generated topology and the users' permissions.

    ``url_for(user)`` gives an AMQP URL into that vhost for a service user or ``admin`` (any
    user with full permissions there, used to put messages in and take them out). One
    connection per user for the whole run, a fresh channel per probe. Each caller's reply queue
    is declared on the caller's connection, as its RpcClient does, and read through it.
    """

    def __init__(self, url_for: Callable[[str], str], admin: str, topology: Topology = TOPOLOGY) -> None:
        self.url_for, self.admin, self.topology = url_for, admin, topology
        self.types = {x["name"]: x["type"] for x in definitions(topology)["exchanges"]}
        self._stack = ExitStack()
        self._connections: dict[str, Connection] = {}
        self._reply_owner = {q: topology.service(c).user for c, q in reply_queues(topology).items()}

    def __enter__(self) -> MatrixRun:
        try:
            for user in [self.admin, *(s.user for s in self.topology.services)]:
                conn = self._stack.enter_context(
                    Connection(
                        self.url_for(user), connect_timeout=10, transport_options={"confirm_publish": True}
                    )
                )
                conn.ensure_connection(max_retries=3)
                self._connections[user] = conn
            for caller in reply_queues(self.topology):
                service = self.topology.service(caller)
                with self._channel(service.user) as channel:
                    declare_reply_queue(channel, service, MATRIX_REPLY_SUFFIX)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @contextmanager
    def _channel(self, user: str) -> Iterator[Any]:
        channel = self._connections[user].connection.channel()
        try:
            yield channel
        finally:
            with suppress(Exception):
                channel.close()

    def _reader(self, queue: str) -> str:
        """Who can take messages out of ``queue``: the admin, or a reply queue's owner."""
        return self._reply_owner.get(queue, self.admin)

    def _take(self, queue: str, marker: str, *, wait: float) -> bool:
        """Remove every message from ``queue``; true if one of them carried ``marker``."""
        found = False
        deadline = time.monotonic() + wait
        with self._channel(self._reader(queue)) as channel:
            while True:
                message = channel.basic_get(queue=queue, no_ack=True)
                if message is not None:
                    found = found or message.properties.get("message_id") == marker
                    continue
                if found or time.monotonic() >= deadline:
                    return found
                time.sleep(0.02)

    def run(self, probe: Probe) -> Outcome:
        """Try the probe's action live; never raises for ACCESS_REFUSED (it is the outcome)."""
        if probe.action == "publish":
            return self._publish(probe)
        if probe.action == "consume":
            return self._consume(probe)
        return self._declare(probe)

    def _publish(self, probe: Probe) -> Outcome:
        marker = str(uuid.uuid4())
        refused, detail = False, ""
        with self._channel(probe.user) as channel:
            try:
                channel.basic_publish(
                    Message(marker, message_id=marker),
                    exchange=probe.resource,
                    routing_key=probe.routing_key,
                )
            except AccessRefused as exc:
                refused, detail = True, str(exc)
        wait = 0.0 if refused else ARRIVAL_TIMEOUT
        arrived = tuple(q for q in probe.destinations if self._take(q, marker, wait=wait))
        return Outcome(refused, arrived, detail)

    def _consume(self, probe: Probe) -> Outcome:
        marker = str(uuid.uuid4())
        with self._channel(self.admin) as channel:
            channel.basic_publish(Message(marker, message_id=marker), exchange="", routing_key=probe.resource)
        got: list[str] = []
        refused, detail = False, ""
        connection = self._connections[probe.user].connection
        with self._channel(probe.user) as channel:
            try:
                channel.basic_consume(
                    probe.resource,
                    callback=lambda m: got.append(m.properties.get("message_id")),
                    no_ack=True,
                )
                deadline = time.monotonic() + ARRIVAL_TIMEOUT
                while marker not in got and time.monotonic() < deadline:
                    with suppress(TimeoutError):
                        connection.drain_events(timeout=0.2)
            except AccessRefused as exc:
                refused, detail = True, str(exc)
        still_queued = self._take(probe.resource, marker, wait=0.0)
        return Outcome(refused, (probe.resource,) if marker in got else (), detail, still_queued)

    def _declare(self, probe: Probe) -> Outcome:
        with self._channel(probe.user) as channel:
            try:
                if probe.kind == "exchange":
                    channel.exchange_declare(
                        probe.resource, self.types[probe.resource], durable=True, auto_delete=False
                    )
                elif probe.resource in self._reply_owner:
                    channel.queue_declare(queue=probe.resource, **REPLY_QUEUE_OPTIONS)
                else:
                    channel.queue_declare(
                        queue=probe.resource,
                        durable=True,
                        exclusive=False,
                        auto_delete=False,
                        arguments={"x-queue-type": "quorum"},
                    )
            except AccessRefused as exc:
                return Outcome(True, (), str(exc))
        return Outcome(False)


def check(probe: Probe, outcome: Outcome) -> list[str]:
    """Why the row fails (empty when it holds)."""
    problems = []
    if probe.granted != probe.intended:
        problems.append(
            f"generated permissions {'grant' if probe.granted else 'refuse'} it, the ownership "
            f"rule {'allows' if probe.intended else 'forbids'} it"
        )
    if outcome.refused == probe.granted:
        problems.append(
            f"broker {'refused' if outcome.refused else 'allowed'} it, the generated permissions "
            f"{'grant' if probe.granted else 'refuse'} it {outcome.detail}"
        )
    expected = (probe.destinations or (probe.resource,)) if probe.granted else ()
    if probe.action != "declare" and tuple(sorted(outcome.arrived)) != tuple(sorted(expected)):
        problems.append(f"the message arrived in {list(outcome.arrived)}, expected {list(expected)}")
    if probe.action == "consume" and outcome.refused and not outcome.still_queued:
        problems.append("the consume was refused but the message left the queue")
    return problems


def matrix_ids(rows: Sequence[Probe]) -> list[str]:
    return [row.id for row in rows]
