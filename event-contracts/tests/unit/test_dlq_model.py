"""Dead letters read from their headers, selected, refused, and printed (no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from event_contracts.dlq.model import (
    DeadLetter,
    NotADeadLetterQueue,
    ReplayRules,
    Selection,
    consumer_queue_of,
    format_letter,
)
from event_contracts.runtime.consumer import PASSED_ON_HEADERS, reason_headers

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def letter(
    position: int = 0,
    *,
    reason: str = "retries-exhausted",
    age: timedelta = timedelta(hours=1),
    replays: int | None = None,
    **headers: Any,
) -> DeadLetter:
    body = json.dumps([[], {"instance": {"id": 7, "lines": []}}, {"chain": None}]).encode()
    all_headers: dict[str, Any] = {
        "task": "order.v2.submit",
        "id": "task-1",
        "event-id": f"event-{position}",
        "correlation-id": "corr-1",
        "occurred-at": (NOW - age).isoformat(),
        "retries": 5,
        "x-delivery-count": 4,
        **reason_headers(
            reason,
            "boom\nline 2",
            "billing.order",
            "billing",
            {"exchange": "order", "routing_key": "order.v2.submit"},
        ),
        **headers,
    }
    if replays is not None:
        all_headers["x-replay-count"] = replays
    return DeadLetter(position, body, {"content_type": "application/json"}, all_headers)


def test_a_platform_dead_letter_reads_as_its_event() -> None:
    dead = letter()
    assert dead.reason == "retries-exhausted" and dead.detail == "boom\nline 2"
    assert dead.routing_key == "order.v2.submit"
    assert dead.event is not None and (dead.event.event, dead.event.version) == ("submit", 2)
    assert dead.event_id == "event-0" and dead.correlation_id == "corr-1" and dead.retries == 5
    assert dead.payload() == {"id": 7, "lines": []}
    assert dead.age(NOW) == timedelta(hours=1)


def test_a_broker_dead_letter_reads_from_x_death() -> None:
    died = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    dead = DeadLetter(
        0,
        b"\x00raw",
        {},
        {
            "x-death": [
                {
                    "reason": "delivery_limit",
                    "queue": "billing.order",
                    "routing-keys": ["order.v1.submit"],
                    "time": died,
                }
            ]
        },
    )
    assert dead.reason == "delivery_limit" and dead.routing_key == "order.v1.submit"
    assert dead.dead_lettered_at == died and dead.age(NOW) == timedelta(hours=1)
    assert dead.payload() == "\x00raw" and dead.event_id is None


def test_replay_headers_keep_everything_but_the_broker_count_and_count_the_replay() -> None:
    headers = letter(replays=1).replay_headers(NOW)
    assert headers["x-replay-count"] == 2 and headers["x-replayed-at"] == NOW.isoformat()
    assert "x-delivery-count" not in headers
    assert headers["x-dead-letter-reason"] == "retries-exhausted" and headers["retries"] == 5
    assert letter().replay_headers(NOW)["x-replay-count"] == 1


def test_the_runtime_passes_the_replay_count_on() -> None:
    assert "x-replay-count" in PASSED_ON_HEADERS


def test_selection_needs_every_given_filter() -> None:
    dead = letter(3, reason="invalid-payload")
    assert Selection().matches(dead)
    assert Selection(reasons=("invalid-payload", "x")).matches(dead)
    assert not Selection(reasons=("retries-exhausted",)).matches(dead)
    assert Selection(event_ids=("event-3",), routing_keys=("order.v2.submit",)).matches(dead)
    assert not Selection(reasons=("invalid-payload",), event_ids=("event-4",)).matches(dead)
    assert Selection(reasons=("a",), limit=2).describe() == "reason=a, limit=2"


def test_replay_rules_refuse_worn_and_too_old_messages() -> None:
    rules = ReplayRules(max_replays=3, dedupe_window=timedelta(days=7))
    assert rules.refusal(letter(replays=2), NOW) is None
    worn = rules.refusal(letter(replays=3), NOW)
    assert worn is not None and "replayed 3 time(s) already (bound 3)" in worn
    old = rules.refusal(letter(age=timedelta(days=8)), NOW)
    assert old is not None and "dedupe window (7.0 d)" in old and "running it twice" in old
    assert ReplayRules(force=True).refusal(letter(age=timedelta(days=8)), NOW) is None
    assert ReplayRules(force=True).refusal(letter(replays=3), NOW) is not None
    unknown = DeadLetter(0, b"{}", {}, {})
    assert "age is unknown" in (rules.refusal(unknown, NOW) or "")


def test_only_dlq_names_are_dead_letter_queues() -> None:
    assert consumer_queue_of("billing.order.dlq") == "billing.order"
    for name in ("billing.order", ".dlq", "billing.order.retry"):
        with pytest.raises(NotADeadLetterQueue):
            consumer_queue_of(name)


def test_format_shows_what_an_operator_needs() -> None:
    text = format_letter(letter(2, replays=1), NOW)
    assert text.startswith("#2  order.v2.submit  reason=retries-exhausted")
    for expected in (
        "submit v2",
        "event-2",
        "corr-1",
        "retries:        5    replays: 1",
        "age: 1.0 h",
        "x-dead-letter-queue: billing.order",
        "    boom",
        '"id": 7',
    ):
        assert expected in text


def test_the_routing_key_is_the_events_even_after_a_retry_hop() -> None:
    """Back from ``billing.order.retry`` the last hop's key is the queue's name, not the event's."""
    dead = letter(**{"x-original-routing-key": "billing.order"})
    assert dead.routing_key == "order.v2.submit"
    foreign = letter(task="e2e.not_a_registered_task")
    assert foreign.routing_key == "order.v2.submit"  # from x-original-routing-key
    assert Selection(routing_keys=("order.v2.submit",)).matches(dead)
