"""Scenario: a dead letter replayed after its cause is fixed runs once, in the consumer that failed.

Billing's database refuses billing's role (``NOLOGIN``, its sessions ended) while an order is
submitted: billing's handler fails, retries privately, and dead-letters the ``order.submit`` to
``billing.order.dlq`` (``retries-exhausted``); logistic handles the order normally. Once the
role may log in again, the operator's ``event-contracts dlq replay --event-id`` sends that one
message back to ``billing.order`` only: billing posts the invoice exactly once, nothing goes
through the ``order`` exchange again (a tap bound like the consumers sees nothing), and the
ledger balances.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg

from e2e.clients.amqp import Tap, instance_of
from e2e.clients.databases import Databases
from e2e.clients.edge import Edge
from e2e.clients.settings import Settings
from e2e.clients.waits import wait_until

DLQ = "billing.order.dlq"
BILLING_ROLE = "billing_service"


def operator_url(settings: Settings) -> str:
    user, password = quote(settings.admin_user, safe=""), quote(settings.admin_password, safe="")
    return f"amqp://{user}:{password}@{settings.host}:{settings.amqp_ports[0]}/{settings.vhost}"


def dlq(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The operator's command, as a separate process (what the runbook tells them to run)."""
    return subprocess.run(
        [sys.executable, "-m", "event_contracts", "dlq", *args, "--url", operator_url(settings)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def billing_database_refused(settings: Settings) -> Iterator[None]:
    """Billing's role may not log in, and its open sessions are ended, until the block exits."""
    superuser = (
        f"host={settings.host} port={settings.postgres_port} dbname=postgres connect_timeout=5 "
        f"user={os.environ.get('POSTGRES_USER', 'postgres')} "
        f"password={os.environ.get('POSTGRES_PASSWORD', 'postgres-dev')}"
    )
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {BILLING_ROLE} NOLOGIN")
        try:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (BILLING_ROLE,)
            )
            yield
        finally:
            conn.execute(f"ALTER ROLE {BILLING_ROLE} LOGIN")


def dead_letters_of(settings: Settings, order_id: int) -> list[dict[str, Any]]:
    shown = dlq(settings, "show", DLQ, "--json")
    assert shown.returncode == 0, shown.stderr
    return [m for m in json.loads(shown.stdout) if (m["payload"] or {}).get("id") == order_id]


def test_a_dead_letter_replayed_after_the_fix_is_posted_once(
    amqp_ok: Settings, edge: Edge, dbs: Databases, record
) -> None:
    settings = amqp_ok
    with billing_database_refused(settings):
        order_id = edge.submit()["id"]
        (letter,) = wait_until(
            lambda: dead_letters_of(settings, order_id),
            timeout=240,
            interval=3,
            what=f"billing to exhaust its retries and dead-letter order {order_id}",
        )
    assert letter["reason"] == "retries-exhausted", letter
    assert "billing_service" in (letter["detail"] or ""), letter["detail"]
    wait_until(
        lambda: dbs.shipment_counts([order_id]) == {order_id: 1},
        timeout=60,
        what=f"logistic to ship order {order_id}",
    )
    assert wait_until(lambda: dbs.journal_counts([order_id]) == {}, timeout=30, what="billing's db back")

    with Tap(settings, "order", ["order.*.submit"]) as tap:
        replayed = dlq(settings, "replay", DLQ, "--event-id", letter["event_id"])
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert "replayed 1, refused 0" in replayed.stdout, replayed.stdout
        wait_until(
            lambda: dbs.journal_counts([order_id]) == {order_id: 1},
            timeout=60,
            what=f"billing to post the replayed order {order_id}",
        )
        edge.wait_for_status(order_id, "dispatched", timeout=90)
        again = [m for m in tap.take() if instance_of(m).get("id") == order_id]
    assert again == [], "the replay went through the order exchange: other consumers saw it again"
    assert dbs.journal_counts([order_id]) == {order_id: 1}
    assert dbs.shipment_counts([order_id]) == {order_id: 1}
    assert dead_letters_of(settings, order_id) == []
    assert dbs.unbalanced_entries() == []
    for currency, (debits, credits) in dbs.ledger_totals().items():
        assert debits == credits, f"ledger out of balance in {currency}: {debits} != {credits}"
    record(order=order_id, dead_letter_reason=letter["reason"], invoices=1, shipments=1)
