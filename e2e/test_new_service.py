"""Open-closed, live: a consumer added to the running shop needs no change in the producer.

``make new-service-e2e`` renders a throwaway service from the template, provisions its broker
user, queues and database on the running stack, starts it next to the unchanged order-service
(whose containers it checks before and after) and runs this module with ``E2E_NEW_SERVICE`` set
to its name. New orders must reach it (each submit recorded once, and a chargeback) while
billing and logistic keep working (every order invoiced and dispatched, the chargeback reversed).
Its broker user reaches only its own queues: the other services' are refused. Each runs the
event-contracts release its own lock pins: the new one ``E2E_NEW_SERVICE_CONTRACTS`` (CI: the
previous release), the shop's services theirs (the newest), side by side.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection

from e2e.clients.containers import Containers
from e2e.clients.databases import Database, Databases
from e2e.clients.edge import Edge
from e2e.clients.settings import Settings
from e2e.clients.waits import wait_until

NAME = os.environ.get("E2E_NEW_SERVICE", "")
SERVICE = f"{NAME}-service"
DATABASE = SERVICE.replace("-", "_")
ORDERS = 5
REPO = Path(__file__).resolve().parents[1]
INSTALLED_CONTRACTS = "import importlib.metadata as m; print(m.version('event-contracts'))"


def _secret(suffix: str, default: str) -> str:
    return os.environ.get(f"{DATABASE.upper()}_{suffix}") or default


@pytest.fixture(scope="module")
def new_db(settings: Settings) -> Iterator[Database]:
    password = _secret("DB_PASSWORD", f"{SERVICE}-db-dev")
    db = Database(
        f"host={settings.host} port={settings.postgres_port} dbname={DATABASE} user={DATABASE} "
        f"password={password} connect_timeout=5"
    )
    yield db
    db.close()


def received(db: Database, order_ids: Iterable[int], kind: str) -> dict[int, int]:
    """Recorded events of ``kind`` per order id (orders without one are absent)."""
    return dict(
        db.rows(
            "SELECT order_id, count(*) FROM received_events WHERE order_id = ANY(%s) AND kind = %s "
            "GROUP BY order_id",
            (list(order_ids), kind),
        )
    )


def test_every_new_order_reaches_the_new_consumer_and_the_others_keep_working(
    edge: Edge, dbs: Databases, new_db: Database, record
) -> None:
    order_ids = [edge.submit()["id"] for _ in range(ORDERS)]
    once = dict.fromkeys(order_ids, 1)

    seen: dict[int, int] = {}
    wait_until(
        lambda: seen.update(received(new_db, order_ids, "submit")) or seen == once,
        timeout=90,
        what=f"{SERVICE} to record the submit of each of {ORDERS} new orders",
        describe=lambda: f"recorded {seen}",
    )
    dbs.wait_statuses(order_ids, "dispatched", timeout=180)  # billing and logistic: both replied
    assert dbs.journal_counts(order_ids, "invoice") == once

    charged_back = order_ids[0]
    edge.chargeback(charged_back)
    wait_until(
        lambda: received(new_db, [charged_back], "chargeback") == {charged_back: 1},
        timeout=90,
        what=f"{SERVICE} to record the chargeback of order {charged_back}",
    )
    wait_until(
        lambda: dbs.journal_counts([charged_back], "reversal") == {charged_back: 1},
        timeout=90,
        what=f"billing to reverse order {charged_back}",
    )
    doubled = new_db.rows(
        "SELECT dedupe_key, count(*) FROM inbox_admissions GROUP BY dedupe_key HAVING count(*) > 1"
    )
    assert doubled == []
    assert received(new_db, order_ids, "submit") == once
    record(orders=ORDERS, received_submits=len(seen), chargebacks=1)


@pytest.mark.parametrize("queue", ["billing.order", "logistic.order", "order.billing", "order.logistic"])
def test_its_broker_user_cannot_consume_another_services_queue(settings: Settings, queue: str) -> None:
    password = _secret("BROKER_PASSWORD", f"{SERVICE}-dev")
    url = (
        f"amqp://{quote(SERVICE, safe='')}:{quote(password, safe='')}@{settings.host}:"
        f"{settings.amqp_ports[0]}/{settings.vhost}"
    )
    with Connection(url, connect_timeout=5) as conn:
        channel = conn.channel()
        with pytest.raises(AccessRefused):
            channel.basic_consume(queue, callback=lambda message: None)


def test_each_runs_the_contracts_release_its_own_lock_pins(containers: Containers, record) -> None:
    pinned = os.environ.get("E2E_NEW_SERVICE_CONTRACTS", "")
    probe = Containers(os.environ.get("E2E_NEW_SERVICE_PROJECT", ""))
    running = {
        SERVICE: probe.docker(
            "exec", probe.of(SERVICE, running_only=True)[0], "python", "-c", INSTALLED_CONTRACTS
        )
    }
    expected = {SERVICE: pinned}
    for service in ("order-service", "billing-service", "logistic-service"):
        lock = (REPO / service / "requirements.lock").read_text()
        pin = re.search(r"^event-contracts==(\S+)", lock, re.M)
        assert pin, f"{service}/requirements.lock pins no event-contracts"
        expected[service] = pin[1]
        name = containers.of(service, running_only=True)[0]
        running[service] = containers.docker("exec", name, "python", "-c", INSTALLED_CONTRACTS)
    assert running == expected
    record(**{s.replace("-", "_"): v for s, v in running.items()})
