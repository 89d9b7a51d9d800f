"""Poison published straight to the ``order`` exchange ends in billing.order.dlq and
logistic.order.dlq with its reason, while good events keep flowing. Afterwards the test takes
exactly its own messages (by task id) out of the DLQs, so it can run again."""

from __future__ import annotations

import json
import uuid

from e2e.clients import amqp
from e2e.clients.databases import Databases
from e2e.clients.edge import Edge
from e2e.clients.settings import Settings

DLQS = ("billing.order.dlq", "logistic.order.dlq")


def poison(order_id: int) -> dict[str, tuple[str, str | bytes, dict]]:
    """reason → (routing key, body, headers); each message with its own task id."""

    def headers(task: str) -> dict:
        return amqp.task_headers(task, str(uuid.uuid4()))

    _, good_body, _ = amqp.seed_v1_message(order_id)
    bad_payload = amqp.task_body(instance={"id": "two", "lines": [{"id": 1}]})
    return {
        "undecodable": ("order.v2.submit", b"\x00not json{", headers("order.v2.submit")),
        "invalid-payload": ("order.v1.submit", bad_payload, headers("order.v1.submit")),
        "unknown-event-version": ("order.v3.submit", good_body, headers("order.v3.submit")),
        "unregistered-task": ("order.v2.submit", good_body, headers("e2e.not_a_registered_task")),
    }


def test_poison_is_dead_lettered_with_its_reason(
    amqp_ok: Settings, edge: Edge, dbs: Databases, unique_order_id, record
) -> None:
    messages = poison(unique_order_id())
    by_id = {h["id"]: reason for reason, (_, _, h) in messages.items()}
    for routing_key, body, headers in messages.values():
        amqp.publish_raw(amqp_ok, "order-service", "order", routing_key, body, headers=headers)
    good = edge.submit()["id"]  # published while the poison is being dead-lettered

    letters = {}
    for dlq in DLQS:
        taken = amqp.take_matching(
            amqp_ok, dlq, lambda m: m.headers.get("id") in by_id, expect=len(by_id), timeout=60
        )
        letters[dlq] = {m.headers["id"]: m for m in taken}

    for dlq, found in letters.items():
        assert set(found) == set(by_id), f"{dlq}: missing {set(by_id) - set(found)}"
        for task_id, message in found.items():
            assert message.headers.get(amqp.DLQ_REASON) == by_id[task_id], (
                dlq,
                by_id[task_id],
                message.headers,
            )
            assert message.headers.get("x-dead-letter-detail")
        invalid = next(m for i, m in found.items() if by_id[i] == "invalid-payload")
        assert "$.id" in invalid.headers["x-dead-letter-detail"]
        undecodable = next(m for i, m in found.items() if by_id[i] == "undecodable")
        raw = undecodable.body if isinstance(undecodable.body, bytes) else undecodable.body.encode()
        assert raw == b"\x00not json{"  # kept as sent
        version = next(m for i, m in found.items() if by_id[i] == "unknown-event-version")
        assert version.headers.get("x-original-routing-key") == "order.v3.submit"

    billing, logistic = dbs.wait_handled([good], timeout=60, what="the good order to flow:")
    assert billing == {good: 1} and logistic == {good: 1}
    record(
        poison_messages=len(by_id),
        dead_lettered=sum(len(f) for f in letters.values()),
        reasons=",".join(sorted(set(by_id.values()))),
        good_order=good,
    )


def test_dlq_draining_leaves_other_messages(amqp_ok: Settings) -> None:
    """take_matching removes only what it recognises: a foreign message stays in the DLQ."""
    marker = str(uuid.uuid4())
    foreign = str(uuid.uuid4())
    for task_id in (marker, foreign):
        amqp.publish_raw(
            amqp_ok,
            amqp_ok.admin_user,
            "billing.dlx",
            "billing.order",
            json.dumps({"e2e": task_id}),
            headers={"id": task_id},
        )
    amqp.take_matching(amqp_ok, "billing.order.dlq", lambda m: m.headers.get("id") == marker, expect=1)
    (left,) = amqp.take_matching(
        amqp_ok, "billing.order.dlq", lambda m: m.headers.get("id") == foreign, expect=1
    )
    assert left.headers["id"] == foreign
