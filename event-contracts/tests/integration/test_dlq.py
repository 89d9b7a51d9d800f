"""``dlq`` against a RabbitMQ 4.x node: looking costs nothing, replays go to one queue, confirmed.

The node is the plugin's ``rabbit`` (a container of ``$SHOP_TEST_RABBITMQ_IMAGE``, RabbitMQ 4.x),
where a quorum queue's delivery limit drops a message returned too often: the first test shows it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import amqp
import pytest
from click.testing import CliRunner
from kombu import Connection, Producer

from event_contracts import Order, PoisonMessage
from event_contracts.dlq import service
from event_contracts.dlq.broker import Broker
from event_contracts.dlq.cli import dlq
from event_contracts.dlq.model import ReplayRules, Selection
from event_contracts.runtime.consumer import reason_headers
from event_contracts.testing import (
    TestVhost,
    drain,
    publish_seed_v1,
    queue_depth,
    running_worker,
    seed_v1_message,
    subscribed,
    wait_until,
)

pytestmark = pytest.mark.integration

DLQ = "billing.order.dlq"
BROWSE_LIMIT = 2
"""The delivery limit these tests put on every DLQ: far below how often they look."""


@pytest.fixture
def vhost4(vhost: TestVhost) -> TestVhost:
    """The test vhost with a delivery limit on every DLQ (a policy above the generated ones)."""
    vhost.rabbit.ctl(
        "set_policy", "-p", vhost.name, "--apply-to", "queues", "--priority", "20",
        "dlq-limit", r"\.dlq$", json.dumps({"delivery-limit": BROWSE_LIMIT}),
    )  # fmt: skip
    wait_until(
        lambda: "dlq-limit" in vhost.rabbit.ctl("list_queues", "-p", vhost.name, "name", "policy"),
        timeout=10,
        what="the delivery-limit policy on the DLQs",
    )
    return vhost


def dead_letter(
    vhost: TestVhost,
    order_id: int,
    reason: str = "retries-exhausted",
    *,
    occurred_at: datetime | None = None,
    replay_count: int | None = None,
) -> str:
    """A dead letter in billing.order.dlq as billing's worker leaves it; returns its event id."""
    headers, body = seed_v1_message(order_id)
    event_id = str(uuid.uuid4())
    headers.update(
        {
            "event-id": event_id,
            "correlation-id": f"corr-{order_id}",
            "occurred-at": (occurred_at or datetime.now(UTC)).isoformat(),
            "retries": 5,
            **reason_headers(
                reason,
                f"failed 6 times; order {order_id}",
                "billing.order",
                "billing",
                {"exchange": "order", "routing_key": "order.v1.submit"},
            ),
        }
    )
    if replay_count is not None:
        headers["x-replay-count"] = replay_count
    with Connection(
        vhost.url(), transport_options={"confirm_publish": True}
    ) as conn:  # in the queue on return
        Producer(conn.channel()).publish(
            body, exchange="billing.dlx", routing_key="billing.order", headers=headers,
            content_type="application/json", content_encoding="utf-8", declare=(),
        )  # fmt: skip
    return event_id


def ids_in(vhost: TestVhost, queue: str = DLQ) -> list[str]:
    with Broker(vhost.url()) as broker:
        return [str(letter.event_id) for letter in service.show(broker, queue, Selection())]


def run(vhost: TestVhost, *args: str) -> Any:
    return CliRunner().invoke(dlq, [*args, "--url", vhost.url()], catch_exceptions=False)


def test_peeking_by_get_and_return_loses_messages_at_the_delivery_limit(vhost4: TestVhost) -> None:
    """The premise: on 4.x a quorum DLQ's delivery limit drops a message looked at too often."""
    dead_letter(vhost4, 1)
    for _ in range(BROWSE_LIMIT + 1):
        with amqp.Connection(
            f"127.0.0.1:{vhost4.rabbit.port}", userid="admin", password="admin", virtual_host=vhost4.name
        ) as conn:
            channel = conn.channel()
            assert channel.basic_get(DLQ, no_ack=False) is not None  # closed unacked: returned
    assert queue_depth(vhost4.url(), DLQ) == 0


def test_showing_more_often_than_the_delivery_limit_loses_nothing_and_keeps_order(vhost4: TestVhost) -> None:
    expected = [dead_letter(vhost4, n) for n in range(5)]
    for _ in range(3 * BROWSE_LIMIT):
        result = run(vhost4, "show", DLQ)
        assert result.exit_code == 0, result.output
        assert queue_depth(vhost4.url(), DLQ) == 5  # all ready: none left checked out by the look
        assert ids_in(vhost4) == expected
    assert "5 message(s) shown" in result.output
    assert "reason=retries-exhausted" in result.output and '"id": 4' in result.output
    with amqp.Connection(
        f"127.0.0.1:{vhost4.rabbit.port}", userid="admin", password="admin", virtual_host=vhost4.name
    ) as conn:
        head = conn.channel().basic_get(DLQ, no_ack=False)
    assert head.headers["event-id"] == expected[0]
    assert "x-delivery-count" not in head.headers, "a look was counted as a delivery"


def test_show_json_selects_by_reason_and_limit(vhost4: TestVhost) -> None:
    dead_letter(vhost4, 1, "invalid-payload")
    second = dead_letter(vhost4, 2)
    third = dead_letter(vhost4, 3)
    result = run(vhost4, "show", DLQ, "--reason", "retries-exhausted", "--limit", "1", "--json")
    assert result.exit_code == 0, result.output
    (shown,) = json.loads(result.output)
    assert shown["event_id"] == second and shown["reason"] == "retries-exhausted"
    assert shown["routing_key"] == "order.v1.submit" and shown["event"] == "submit" and shown["version"] == 1
    assert shown["payload"]["id"] == 2 and shown["correlation_id"] == "corr-2"
    assert shown["platform_headers"]["x-dead-letter-queue"] == "billing.order"
    assert ids_in(vhost4)[1:] == [second, third]


def test_list_counts_by_reason_and_shows_empty_queues(vhost4: TestVhost) -> None:
    dead_letter(vhost4, 1, occurred_at=datetime.now(UTC) - timedelta(hours=3))
    dead_letter(vhost4, 2, "invalid-payload")
    dead_letter(vhost4, 3)
    result = run(vhost4, "list")
    assert result.exit_code == 0, result.output
    line = next(row for row in result.output.splitlines() if row.startswith(DLQ))
    assert "3 message(s)" in line and "invalid-payload=1, retries-exhausted=2" in line
    assert "oldest 3.0 h" in line
    assert any(
        row.startswith("logistic.order.dlq") and row.endswith("empty") for row in result.output.splitlines()
    )
    assert queue_depth(vhost4.url(), DLQ) == 3


def test_replay_by_reason_goes_to_billing_only_and_the_others_stay_in_order(vhost4: TestVhost) -> None:
    ids = [dead_letter(vhost4, n, "invalid-payload" if n % 2 else "retries-exhausted") for n in range(6)]
    result = run(vhost4, "replay", DLQ, "--reason", "retries-exhausted")
    assert result.exit_code == 0, result.output
    assert "replayed 3, refused 0, 3 message(s) left" in result.output
    replayed = drain(vhost4.url(), "billing.order", expect=3)
    assert [m.headers["event-id"] for m in replayed] == ids[0::2]
    first = replayed[0]
    assert first.headers["x-replay-count"] == 1
    assert first.headers["task"] == "order.v1.submit" and first.headers["retries"] == 5
    assert first.headers["x-dead-letter-reason"] == "retries-exhausted"
    assert first.properties["content_type"] == "application/json"
    assert json.loads(first.body)[1]["instance"]["id"] == 0
    assert ids_in(vhost4) == ids[1::2]
    assert queue_depth(vhost4.url(), "logistic.order") == 0  # never through the topic exchange


def test_replay_by_event_id_selects_exactly_those(vhost4: TestVhost) -> None:
    ids = [dead_letter(vhost4, n) for n in range(5)]
    result = run(vhost4, "replay", DLQ, "--event-id", ids[1], "--event-id", ids[3])
    assert result.exit_code == 0, result.output
    assert sorted(m.headers["event-id"] for m in drain(vhost4.url(), "billing.order", expect=2)) == sorted(
        [ids[1], ids[3]]
    )
    assert ids_in(vhost4) == [ids[0], ids[2], ids[4]]


def test_dry_run_changes_nothing(vhost4: TestVhost) -> None:
    ids = [dead_letter(vhost4, n) for n in range(3)]
    result = run(vhost4, "replay", DLQ, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.count("would-replay") == 3 and "would replay 3" in result.output
    assert ids_in(vhost4) == ids and queue_depth(vhost4.url(), "billing.order") == 0


def test_replay_refuses_past_the_bound_and_beyond_the_dedupe_window_unless_forced(vhost4: TestVhost) -> None:
    worn = dead_letter(vhost4, 1, replay_count=3)
    old = dead_letter(vhost4, 2, occurred_at=datetime.now(UTC) - timedelta(days=8))
    fresh = dead_letter(vhost4, 3)
    result = run(vhost4, "replay", DLQ)
    assert result.exit_code == 3, result.output
    assert "replayed 3 time(s) already (bound 3)" in result.output
    assert "older than the consumers' dedupe window (7.0 d)" in result.output and "--force" in result.output
    assert [m.headers["event-id"] for m in drain(vhost4.url(), "billing.order", expect=1)] == [fresh]
    assert ids_in(vhost4) == [worn, old]

    assert run(vhost4, "replay", DLQ, "--dedupe-window", str(10 * 86400)).exit_code == 3
    assert [m.headers["event-id"] for m in drain(vhost4.url(), "billing.order", expect=1)] == [old]
    dead_letter(vhost4, 4, occurred_at=datetime.now(UTC) - timedelta(days=30))
    result = run(vhost4, "replay", DLQ, "--force")
    assert result.exit_code == 3 and "replayed 1, refused 1" in result.output  # the bound holds under --force
    assert ids_in(vhost4) == [worn]


def test_purge_by_reason_prints_and_drops_only_those(vhost4: TestVhost) -> None:
    ids = [
        dead_letter(vhost4, n, "invalid-payload" if n in (1, 2) else "retries-exhausted") for n in range(4)
    ]
    assert run(vhost4, "purge", DLQ).exit_code == 2  # no --yes
    result = run(vhost4, "purge", DLQ, "--reason", "invalid-payload", "--yes")
    assert result.exit_code == 0, result.output
    assert (
        ids[1] in result.output and ids[2] in result.output and "purged 2, 2 message(s) left" in result.output
    )
    assert ids_in(vhost4) == [ids[0], ids[3]]


def test_clear_errors_and_exit_codes(vhost4: TestVhost) -> None:
    assert run(vhost4, "show", "billing.order").exit_code == 4
    missing = run(vhost4, "show", "nobody.dlq")
    assert missing.exit_code == 4 and "no queue 'nobody.dlq'" in missing.output
    as_billing = CliRunner().invoke(
        dlq, ["show", "logistic.order.dlq", "--url", vhost4.url("billing-service")]
    )
    assert as_billing.exit_code == 5 and "may not" in as_billing.output
    bad_login = vhost4.url().replace("admin:admin", "admin:wrong")
    assert CliRunner().invoke(dlq, ["list", "--url", bad_login]).exit_code == 5
    closed = f"amqp://admin:admin@127.0.0.1:{_closed_port()}/{vhost4.name}"
    unreachable = CliRunner().invoke(dlq, ["list", "--url", closed])
    assert unreachable.exit_code == 6 and "unreachable" in unreachable.output


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_killing_the_command_mid_replay_loses_no_message(vhost4: TestVhost) -> None:
    total = 1500
    ids = [str(uuid.uuid4()) for _ in range(total)]
    with amqp.Connection(
        f"127.0.0.1:{vhost4.rabbit.port}",
        userid="admin",
        password="admin",
        virtual_host=vhost4.name,
        confirm_publish=True,
    ) as conn:
        channel = conn.channel()
        for n, event_id in enumerate(ids):
            headers, body = seed_v1_message(n)
            headers.update(
                {
                    "event-id": event_id,
                    "occurred-at": datetime.now(UTC).isoformat(),
                    **reason_headers("retries-exhausted", "x", "billing.order", "billing", {}),
                }
            )
            channel.basic_publish(
                amqp.Message(body, application_headers=headers, content_type="application/json"),
                exchange="",
                routing_key=DLQ,
            )
    command = [sys.executable, "-m", "event_contracts", "dlq", "replay", DLQ, "--url", vhost4.url()]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ)
    try:
        wait_until(
            lambda: queue_depth(vhost4.url(), "billing.order") >= 200,
            timeout=60,
            what="200 messages replayed before the kill",
            interval=0.01,
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    replayed = [
        m.headers["event-id"]
        for m in drain(vhost4.url(), "billing.order", expect=queue_depth(vhost4.url(), "billing.order"))
    ]
    left = ids_in(vhost4)
    assert 200 <= len(replayed) < total, "killed too late to prove anything"
    assert set(replayed) | set(left) == set(ids)  # nothing lost
    assert len(replayed) + len(left) <= total + 1  # at most the one in flight is in both
    assert replayed == ids[: len(replayed)]  # replayed in order
    rest = [i for i in left if i not in set(replayed)]
    assert rest == ids[len(replayed) :]


def test_poison_again_comes_back_counted_and_is_refused_past_the_bound(vhost4: TestVhost) -> None:
    def always_poison(order: Order, delivery: Any) -> None:
        raise PoisonMessage(f"order {order.id} is poison")

    with subscribed(Order.submit, always_poison), running_worker(vhost4, "billing"):
        event_id = publish_seed_v1(vhost4.url("order-service"), 41)
        for replays in range(4):
            (letter,) = wait_until(
                lambda replays=replays: [l for l in _letters(vhost4) if l.replay_count == replays],
                timeout=20,
                what=f"the dead letter with x-replay-count {replays}",
            )
            assert letter.reason == "rejected-by-handler"
            assert letter.headers["id"] == event_id
            result = run(vhost4, "replay", DLQ)
            if replays < 3:
                assert result.exit_code == 0 and "replayed 1" in result.output, result.output
        assert result.exit_code == 3 and "replayed 3 time(s) already (bound 3)" in result.output
    assert [l.replay_count for l in _letters(vhost4)] == [3]


def _letters(vhost: TestVhost) -> list[Any]:
    with Broker(vhost.url()) as broker:
        return service.show(broker, DLQ, Selection())


def test_replay_rules_in_process(vhost4: TestVhost) -> None:
    """The service layer without the CLI: the limit counts selected messages, in order."""
    ids = [dead_letter(vhost4, n) for n in range(4)]
    with Broker(vhost4.url()) as broker:
        tally = service.replay(broker, DLQ, Selection(limit=2), ReplayRules())
    assert [o.letter.event_id for o in tally.outcomes] == ids[:2] and tally.visited == 4
    assert ids_in(vhost4) == ids[2:]
