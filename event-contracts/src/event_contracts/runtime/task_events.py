"""Task events for Flower: one per handling, its outcome, carrying what the receipt said.

Stock Celery sends three events per task: ``task-received`` (name, arguments, ids),
``task-started`` and the outcome (``task-succeeded``, ``-failed``, ``-retried``,
``-rejected``, ``-revoked``). An order is seven tasks, so 21 events: more messages on the
broker than the order's own, and each one built by the worker's main process and parsed by
Flower.

With ``TASK_EVENTS=outcomes`` (the default) a worker sends only the outcome, with the receipt's
fields merged in (``name``, ``args``, ``kwargs``, ``root_id``, ``parent_id``, ``retries``,
``eta``, ``expires``) and its times (``received``, ``started``): Celery's event state (Flower's
too) applies an event's fields to the task, so Flower still shows each service's handling of an
event as its own task with its name, worker, state, result or exception, runtime and times.
What a monitor no longer sees: a task while it runs (it appears when it ends), and the counts of
``task-received`` (Flower's "Processed" column on the workers page; "Succeeded" and "Failed"
count as before). ``TASK_EVENTS=all`` restores Celery's stock stream.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from celery.app.events import Events
from celery.events.dispatcher import EventDispatcher

TASK_EVENTS_ENV = "TASK_EVENTS"
"""``outcomes`` (default): one event per task; ``all``: Celery's received/started/outcome."""
OUTCOMES = "outcomes"
ALL = "all"

RECEIVED = "task-received"
STARTED = "task-started"
NOT_STARTED_OUTCOMES = frozenset({"task-revoked", "task-rejected"})
FLUSH_SECONDS = 0.1
"""How long a worker's event loop holds task events before publishing them as one message.

Celery publishes its buffered task events on the loop's next turn, which in a busy prefork
worker is about one message per task; held 0.1 s they go out as one ``task.multi`` message of
up to 24 events (Celery's buffer limit). Flower shows a task at most this much later."""
MAX_RECEIPTS = 10_000
"""Receipts kept for tasks still running; more only if outcomes never come (a worker that gave
messages back at shutdown): the oldest are then dropped, their outcomes sent without them."""


def task_events_from_env(env: dict[str, str] | os._Environ[str] | None = None) -> str:
    """The worker's ``TASK_EVENTS`` setting, checked."""
    value = (os.environ if env is None else env).get(TASK_EVENTS_ENV, "").strip().lower() or OUTCOMES
    if value not in (OUTCOMES, ALL):
        raise ValueError(f"{TASK_EVENTS_ENV}={value!r}: expected {OUTCOMES!r} or {ALL!r}")
    return value


class OutcomeEventDispatcher(EventDispatcher):  # type: ignore[misc]
    """Holds a task's ``task-received`` and ``task-started`` back and sends them merged into its
    outcome (unless ``TASK_EVENTS=all``). Every other event (worker heartbeats) goes as is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes_only = task_events_from_env() == OUTCOMES
        self._receipts: dict[str, dict[str, Any]] = {}
        self._receipts_lock = threading.Lock()

    def send(self, type: str, blind: bool = False, **fields: Any) -> Any:
        if not self.outcomes_only or not type.startswith("task-"):
            return super().send(type, blind=blind, **fields)
        uuid = str(fields.get("uuid"))
        with self._receipts_lock:
            if type == RECEIVED:
                if len(self._receipts) >= MAX_RECEIPTS:
                    self._receipts.pop(next(iter(self._receipts)))
                self._receipts[uuid] = {**fields, "received": time.time()}
                return None
            if type == STARTED:
                receipt = self._receipts.get(uuid)
                if receipt is not None:
                    receipt["started"] = time.time()
                return None
            receipt = self._receipts.pop(uuid, None)
        if receipt is not None:
            if type in NOT_STARTED_OUTCOMES and "started" not in receipt:
                # Flower counts such a task as prefetched and uncounts it on this outcome: a
                # task it never saw received must not be uncounted.
                receipt.pop("received")
            fields = {**receipt, **fields}
        return super().send(type, blind=blind, **fields)


class ShopEvents(Events):  # type: ignore[misc]
    """``app.events`` of a service app: its dispatcher sends one event per task."""

    dispatcher_cls = f"{__name__}:OutcomeEventDispatcher"
