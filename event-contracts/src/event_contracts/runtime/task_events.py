"""Which task events a worker sends for Flower: all but ``task-started`` by default.

A worker with task events on (``-E``) sends three per task it runs: ``task-received`` (name,
arguments, when it arrived), ``task-started`` and ``task-succeeded`` / ``task-failed`` /
``task-retried`` / ``task-rejected`` (the outcome and the runtime), each a confirmed publish to
the ``celeryev`` exchange that Flower's own queue receives. Flower builds a task's row from
these: the name comes only with ``task-received``, the outcome only with the last one;
``task-started`` adds the moment a pool process took the task and the interim state STARTED.
Without it Flower still lists every task with its name, worker, state and runtime, and the
pipeline sends a third fewer events (seven per order).

``shop_skipped_task_events`` (``app.conf``; ``SKIPPED_TASK_EVENTS`` in the environment, comma-
separated, ``""`` sends them all) names the event types a worker leaves out.
"""

from __future__ import annotations

import os
from typing import Any

from celery.app.events import Events
from celery.events.dispatcher import EventDispatcher

SKIPPED_TASK_EVENTS = "shop_skipped_task_events"
"""``app.conf`` key: the task event types the worker does not send."""
DEFAULT_SKIPPED = "task-started"


def skipped_from_env() -> tuple[str, ...]:
    """``SKIPPED_TASK_EVENTS`` (comma-separated), ``task-started`` when unset."""
    raw = os.environ.get("SKIPPED_TASK_EVENTS", DEFAULT_SKIPPED)
    return tuple(t.strip() for t in raw.split(",") if t.strip())


class ShopEventDispatcher(EventDispatcher):  # type: ignore[misc]
    """Celery's dispatcher, leaving out the event types named in ``shop_skipped_task_events``."""

    app: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skipped = frozenset(self.app.conf.get(SKIPPED_TASK_EVENTS) or ())

    def send(self, type: str, *args: Any, **fields: Any) -> Any:
        if type in self.skipped:
            return None
        return super().send(type, *args, **fields)


class ShopEvents(Events):  # type: ignore[misc]
    """``app.events`` whose dispatcher is :class:`ShopEventDispatcher`."""

    dispatcher_cls = "event_contracts.runtime.task_events:ShopEventDispatcher"
