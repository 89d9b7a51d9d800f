"""Faults while the shop is busy: every order accepted (201) ends dispatched, each order's event
let through once by billing's and by logistic's inbox (``inbox_admissions``), whatever fails.

- A broker node (the leader of ``billing.order``) is killed while the outbox relay publishes a
  backlog of orders, and the relay itself is SIGKILLed mid-backlog (compose restarts it).
- PostgreSQL is stopped for 10 s under load: the edge answers 503 with a JSON body and
  ``Retry-After`` (never 500, never a hang), the workers retry privately and dead-letter
  nothing, and everything accepted is handled once it is back.
- The whole stack is restarted (``docker compose restart``) with a burst being handled.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest

from e2e.clients.amqp import DLQ_REASON, Tap, instance_of
from e2e.clients.broker_admin import BrokerAdmin
from e2e.clients.containers import Containers
from e2e.clients.databases import Databases, exactly_once
from e2e.clients.edge import Edge, bearer, order_body
from e2e.clients.load import OrderBurst
from e2e.clients.settings import Settings
from e2e.clients.waits import Stopwatch, wait_until

BACKLOG = int(os.environ.get("E2E_FAULTS_BACKLOG", "1000"))
DB_DOWN_S = float(os.environ.get("E2E_FAULTS_DB_DOWN", "10"))
RESTART_ORDERS = int(os.environ.get("E2E_FAULTS_RESTART_ORDERS", "300"))
HANDLE_TIMEOUT = float(os.environ.get("E2E_FAULTS_HANDLE_TIMEOUT", "600"))
REQUEST_BOUND_S = 10.0
"""Longest an edge request may take while the database is down (its connect timeout is 5 s)."""

# Each consumer's queues: their private retries go through <service>.retry, their dead letters
# through <service>.dlx, both routed by the queue's name (event_contracts.topology).
CONSUMED = {
    "billing": ["billing.order"],
    "logistic": ["logistic.order", "logistic.internal"],
    "order": ["order.billing", "order.logistic"],
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def assert_each_order_once(dbs: Databases, ids: list[int]) -> None:
    """Every order dispatched; its event let through exactly once by billing and by logistic."""
    dbs.wait_handled(ids, timeout=HANDLE_TIMEOUT)
    dbs.wait_statuses(ids, "dispatched", timeout=HANDLE_TIMEOUT)
    billing_lost, billing_twice = exactly_once(ids, dbs.invoice_admissions(ids))
    logistic_lost, logistic_twice = exactly_once(ids, dbs.shipment_admissions(ids))
    assert (billing_lost, billing_twice) == ([], []), (
        f"billing lost {billing_lost[:10]}, admitted twice {billing_twice[:10]}"
    )
    assert (logistic_lost, logistic_twice) == ([], []), (
        f"logistic lost {logistic_lost[:10]}, admitted twice {logistic_twice[:10]}"
    )


# --- a broker node and the relay die while the relay works off a backlog --------------------------


def test_broker_node_and_relay_killed_while_the_relay_publishes_a_backlog(
    edge: Edge, broker: BrokerAdmin, dbs: Databases, containers: Containers, record
) -> None:
    """With the relay stopped, ``BACKLOG`` orders are accepted (their events wait in the outbox:
    nothing reaches billing). The relay is started; once it has published part of the backlog
    the node leading ``billing.order`` is killed, and once the relay publishes again the relay
    is SIGKILLed too. Rows it published but had not marked yet are published again on restart:
    the inboxes must let each order's event through once, and no event may be missing."""
    broker.wait_all_online(timeout=120)
    leader = broker.leader("billing.order")
    (node,) = containers.of(leader.split("@", 1)[1])
    (relay,) = containers.of("order-service-relay")
    last_row = dbs.outbox_last_id()
    clock = Stopwatch()
    containers.stop(relay)
    try:
        burst = OrderBurst(edge, BACKLOG)
        ids = burst.wait(timeout=300)
        backlog_s = clock()
        assert dbs.outbox_unpublished_after(last_row) >= BACKLOG, "the events did not wait in the outbox"
        assert dbs.journal_counts(ids) == {}, "billing handled orders while the relay was stopped"

        started = time.monotonic()
        containers.start(relay)
        unpublished = [BACKLOG]

        def relay_published(below: int) -> bool:
            unpublished[0] = dbs.outbox_unpublished_after(last_row)
            return unpublished[0] <= below

        wait_until(
            lambda: relay_published(BACKLOG - BACKLOG // 10),
            timeout=120,
            interval=0.05,
            what="the relay to publish a tenth of the backlog",
            describe=lambda: f"{unpublished[0]} unpublished",
        )
        containers.kill(node)
        node_killed = time.monotonic()
        at_node_kill = unpublished[0]
        print(f"killed {node} ({leader}, leader of billing.order) with {at_node_kill} rows to publish")

        # The relay publishes again with the node gone: kill it at that moment, mid-backlog.
        wait_until(
            lambda: relay_published(at_node_kill - 1),
            timeout=120,
            interval=0.05,
            what=f"the relay to publish again after {node} died",
            describe=lambda: f"{unpublished[0]} unpublished",
        )
        relay_was_at = containers.started_at(relay)
        by_restart_policy = containers.crash(relay)
        relay_killed = time.monotonic()
        at_relay_kill = unpublished[0]
        wait_until(
            lambda: containers.started_at(relay) != relay_was_at and containers.state(relay) == "running",
            timeout=60,
            what=f"{relay} to be started again after its SIGKILL",
        )
        relay_back = time.monotonic()
        wait_until(
            lambda: relay_published(0),
            timeout=300,
            interval=0.25,
            what=f"the relay to publish the whole backlog with {node} down",
            describe=lambda: f"{unpublished[0]} unpublished",
        )
        published = time.monotonic()
    finally:
        containers.ensure_running(relay)
        containers.ensure_running(node)
    containers.wait_running(node, timeout=180)
    broker.wait_all_online(timeout=180)

    assert_each_order_once(dbs, ids)
    record(
        backlog_orders=len(ids),
        node=leader,
        backlog_s=backlog_s,
        relay_start_to_node_kill_s=node_killed - started,
        unpublished_at_node_kill=at_node_kill,
        unpublished_at_relay_kill=at_relay_kill,
        relay_restarted_by_policy=by_restart_policy,
        relay_down_s=relay_back - relay_killed,
        relay_start_to_all_published_s=published - started,
        relay_start_to_all_dispatched_s=time.monotonic() - started,
    )
    assert 0 < at_relay_kill < at_node_kill < BACKLOG, "the kills did not both land mid-backlog"


# --- PostgreSQL stopped for 10 s under load -----------------------------------------------------


@dataclass(frozen=True)
class Answer:
    sent: float
    elapsed: float
    status: int  # 0: no HTTP answer (transport error or client timeout)
    body: dict[str, object]
    retry_after: str | None
    order_id: int | None


class PacedLoad(threading.Thread):
    """New orders from ``threads`` threads, each waiting ``pace`` s between its requests, until
    ``stop`` is set; every answer kept (one attempt per order, unique Idempotency-Key)."""

    def __init__(self, edge: Edge, base_url: str, *, threads: int = 4, pace: float = 0.05) -> None:
        super().__init__(daemon=True, name="paced-load")
        self.base_url, self.threads, self.pace = base_url, threads, pace
        self.customer = f"e2e-paced-{uuid.uuid4().hex[:8]}"  # the token's subject orders for itself
        self.headers = bearer(edge.customer_token(order_body(customer_id=self.customer)))
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers: list[Answer] = []

    def run(self) -> None:
        workers = [threading.Thread(target=self._loop, daemon=True) for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=REQUEST_BOUND_S + 20) as http:
            while not self.stop.is_set():
                self._one(http)
                self.stop.wait(self.pace)

    def _one(self, http: httpx.Client) -> None:
        sent = time.monotonic()
        try:
            response = http.post(
                "/orders",
                json=order_body(customer_id=self.customer),
                headers={**self.headers, "Idempotency-Key": f"e2e-{uuid.uuid4().hex}"},
            )
        except httpx.HTTPError as exc:
            answer = Answer(sent, time.monotonic() - sent, 0, {"error": repr(exc)}, None, None)
        else:
            try:
                body = response.json()
            except ValueError:
                body = {"raw": response.text[:200]}
            order_id = int(body["id"]) if response.status_code == 201 else None
            answer = Answer(
                sent,
                time.monotonic() - sent,
                response.status_code,
                body,
                response.headers.get("Retry-After"),
                order_id,
            )
        with self.lock:
            self.answers.append(answer)

    def snapshot(self) -> list[Answer]:
        with self.lock:
            return list(self.answers)

    def count(self, status: int, since: float = 0.0) -> int:
        return sum(1 for a in self.snapshot() if a.status == status and a.sent >= since)


class TapDrainer(threading.Thread):
    """Takes from the taps continuously: a private retry carries a per-message TTL (its
    backoff), which expires the tap's copy too if it waits there longer than that."""

    def __init__(self, taps: list[Tap]) -> None:
        super().__init__(daemon=True, name="tap-drainer")
        self.taps, self.stop, self.lock = taps, threading.Event(), threading.Lock()

    def run(self) -> None:
        while not self.stop.is_set():
            self.drain()
            self.stop.wait(0.1)

    def drain(self) -> None:
        with self.lock:
            for tap in self.taps:
                tap.take()

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=30)
        self.drain()


def test_postgres_stopped_under_load(
    edge: Edge, settings: Settings, dbs: Databases, containers: Containers, record
) -> None:
    """PostgreSQL is stopped for ``DB_DOWN_S`` s while orders keep coming and the workers have a
    backlog. Meanwhile the edge answers every request within ``REQUEST_BOUND_S`` s: 201 or 503
    with a JSON error naming the database and a ``Retry-After``, never a 500. The workers'
    failures go to their private retry queues (seen on taps of the retry exchanges), nothing is
    dead-lettered (taps of the dead-letter exchanges stay empty), and once PostgreSQL is back
    every order accepted with 201 ends dispatched, each let through once by each inbox."""
    (postgres,) = containers.of("postgres")
    with ExitStack() as stack:
        retries = {
            service: stack.enter_context(Tap(settings, f"{service}.retry", queues))
            for service, queues in CONSUMED.items()
        }
        dead_letters = {
            service: stack.enter_context(Tap(settings, f"{service}.dlx", queues))
            for service, queues in CONSUMED.items()
        }
        drainer = TapDrainer([*retries.values(), *dead_letters.values()])
        drainer.start()
        stack.callback(drainer.finish)
        load = PacedLoad(edge, settings.edge_url)
        load.start()
        try:
            wait_until(
                lambda: load.count(201) >= 150,
                timeout=120,
                what="150 orders accepted before PostgreSQL stops",
                describe=lambda: f"{len(load.snapshot())} answers, {load.count(201)} created",
            )
            stop_began = time.monotonic()
            containers.stop(postgres, timeout=10)
            stopped = time.monotonic()
            wait_until(
                lambda: time.monotonic() - stopped >= DB_DOWN_S and load.count(503, since=stopped) >= 5,
                timeout=DB_DOWN_S + 60,
                what=f"{DB_DOWN_S:g} s with PostgreSQL down and the edge answering 503",
                describe=lambda: f"{load.count(503, since=stopped)} answered 503 since the stop",
            )
            down_until = time.monotonic()
            containers.start(postgres)
            containers.wait_running(postgres, timeout=120)
            healthy = time.monotonic()
            wait_until(
                lambda: load.count(201, since=healthy) >= 100,
                timeout=120,
                what="the edge to accept 100 orders after PostgreSQL is back",
                describe=lambda: f"{load.count(201, since=healthy)} created since",
            )
            first_201_after = min(
                a.sent + a.elapsed for a in load.snapshot() if a.status == 201 and a.sent >= healthy
            )
        finally:
            load.stop.set()
            load.join(timeout=REQUEST_BOUND_S + 30)
            containers.ensure_running(postgres)
        answers = load.snapshot()
        ids = [a.order_id for a in answers if a.order_id is not None]
        assert_each_order_once(dbs, ids)
        drainer.finish()
        retried = {service: len(tap.seen) for service, tap in retries.items()}
        lettered = {service: tap.seen for service, tap in dead_letters.items()}

    during = [a for a in answers if stopped <= a.sent and a.sent + a.elapsed <= down_until]
    unavailable = [a for a in answers if a.status == 503]
    failed = [a for a in answers if a.status not in (201, 503)]
    slowest = max(a.elapsed for a in answers)
    record(
        db_down_requests=len(answers),
        created=len(ids),
        answered_503=len(unavailable),
        other_answers=len(failed),
        slowest_request_s=slowest,
        stop_s=stopped - stop_began,
        start_to_healthy_s=healthy - down_until,
        healthy_to_first_201_s=first_201_after - healthy,
        **{f"{service}_retries": n for service, n in retried.items()},
        dead_lettered=sum(len(m) for m in lettered.values()),
    )
    assert not failed, f"answers other than 201/503: {[(a.status, a.body) for a in failed[:5]]}"
    assert slowest <= REQUEST_BOUND_S, f"a request took {slowest:.1f} s"
    assert during and all(a.status == 503 for a in during), (
        f"while PostgreSQL was down: {sorted({a.status for a in during})} ({len(during)} requests)"
    )
    for answer in unavailable:
        assert "database is unavailable" in str(answer.body.get("error")), answer.body
        assert answer.body.get("status") == 503 and answer.retry_after and int(answer.retry_after) > 0
    assert not any(lettered.values()), {
        service: [(m.headers.get(DLQ_REASON), instance_of(m).get("id")) for m in messages[:5]]
        for service, messages in lettered.items()
        if messages
    }
    assert sum(retried.values()) > 0, "no worker met the outage (no private retry seen): no backlog?"


# --- the whole stack restarted with a burst in flight ----------------------------------------------


def test_whole_stack_restarted_with_messages_in_flight(
    edge: Edge, broker: BrokerAdmin, dbs: Databases, containers: Containers, record
) -> None:
    """``RESTART_ORDERS`` orders are accepted; once billing has handled a tenth of them (the
    rest in the outbox, queues, prefetch windows and retries) every service is restarted at
    once with ``docker compose restart``. Once the stack is back every order is dispatched,
    each let through once by billing's and by logistic's inbox."""
    clock = Stopwatch()
    ids = OrderBurst(edge, RESTART_ORDERS).wait(timeout=300)
    handled = [0]

    def billing_progress() -> bool:
        handled[0] = len(dbs.journal_counts(ids))
        return handled[0] >= RESTART_ORDERS // 10

    wait_until(billing_progress, timeout=300, interval=0.1, what="billing to handle a tenth of the burst")
    at_restart = handled[0]
    restart = Stopwatch()
    containers.compose_restart()
    restarted_s = restart()
    edge_ready = wait_until(
        lambda: edge.http.get("/readyz").status_code == 200,
        timeout=300,
        interval=1,
        what="the edge to be ready after the restart",
    )
    assert edge_ready
    back_s = restart()
    broker.wait_all_online(timeout=300)
    assert_each_order_once(dbs, ids)
    record(
        restart_orders=len(ids),
        handled_at_restart=at_restart,
        compose_restart_s=restarted_s,
        restart_to_edge_ready_s=back_s,
        restart_to_all_dispatched_s=restart(),
        restart_total_s=clock(),
    )
    assert at_restart < len(ids), "billing had handled the whole burst before the restart"
