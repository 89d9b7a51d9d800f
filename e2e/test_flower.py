"""Flower's API (basic auth) shows billing's and logistic's handling of one event as
two succeeded tasks, ``<event id>.billing`` and ``<event id>.logistic``, on their own workers."""

from __future__ import annotations

from e2e.clients import amqp
from e2e.clients.flower import Flower
from e2e.clients.settings import Settings
from e2e.clients.waits import wait_until


def test_each_service_handling_is_its_own_task(
    amqp_ok: Settings, flower: Flower, unique_order_id, record
) -> None:
    assert flower.status_without_auth("/api/tasks") == 401
    assert flower.status_without_auth("/") == 401

    order_id = unique_order_id()
    headers, body, event_id = amqp.seed_v1_message(order_id)
    amqp.publish_raw(amqp_ok, "order-service", "order", "order.v1.submit", body, headers=headers)

    tasks: dict[str, dict] = {}

    def both_succeeded() -> bool:
        for service in ("billing", "logistic"):
            info = flower.task(f"{event_id}.{service}")
            if info:
                tasks[service] = info
        return all(tasks.get(s, {}).get("state") == "SUCCESS" for s in ("billing", "logistic"))

    wait_until(
        both_succeeded,
        timeout=60,
        interval=1,
        what=f"Flower to show {event_id}.billing and {event_id}.logistic as SUCCESS",
        describe=lambda: str({s: (t.get("state"), t.get("worker")) for s, t in tasks.items()}),
    )

    listed = flower.tasks(limit=1000)
    for service in ("billing", "logistic"):
        task = tasks[service]
        assert task["name"] == "order.v1.submit"
        assert str(task["worker"]).startswith(f"{service}-service@"), task["worker"]
        assert f"{event_id}.{service}" in listed
    amqp.take_facts_about(amqp_ok, order_id)  # order-service dead-letters facts about it
    record(
        event=event_id, billing_worker=tasks["billing"]["worker"], logistic_worker=tasks["logistic"]["worker"]
    )
