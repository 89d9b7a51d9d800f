"""The inbox: a consumer applies an event's effect once per event id, whatever the broker does.

At-least-once delivery means a consumer may see an event twice (a redelivery after a crash, a
publisher retry after a lost confirm). Every consumer gates its effect on the inbox, in the
same database transaction as the effect::

    @Order.submit.register_callback
    def post_invoice(order: Order, delivery: Delivery) -> None:
        with uow:
            if uow.inbox.admit(delivery):   # records delivery.dedupe_key (consumer:event id)
                uow.ledger.post(...)        # the effect, only for the first delivery
                uow.commit()                # effect and inbox record commit together, or neither
        publisher.publish(...)              # a deterministic fact may go out again: same fact id

:class:`Inbox` is the port; ``event_contracts.contrib.sqlalchemy.SqlInbox`` implements it over
the service's own database and :class:`InMemoryInbox` in unit tests.

The dedupe window. Records older than the retention (``INBOX_RETENTION_SECONDS``, default
:data:`DEFAULT_RETENTION`) are purged, so the tables do not grow forever. The trade-off: a
delivery of an event older than the window (a message parked in a dead-letter queue for longer,
then replayed) is processed again. Keep the window longer than any message may wait, and refuse
to replay dead letters older than it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Protocol

from event_contracts.delivery import Delivery
from event_contracts.service_defaults import metrics

DEFAULT_RETENTION = timedelta(days=7)
"""How long an inbox remembers a handled event (the dedupe window) unless configured."""
RETENTION_ENV = "INBOX_RETENTION_SECONDS"
"""The environment variable that sets the dedupe window, in seconds."""
DEFAULT_PURGE_EVERY = timedelta(minutes=10)
"""How often a service's worker deletes the records that left the window."""
PURGE_EVERY_ENV = "INBOX_PURGE_EVERY_SECONDS"


class Inbox(Protocol):
    """Implemented by each service over its own database, inside its unit of work."""

    def admit(self, delivery: Delivery) -> bool:
        """Record ``delivery``'s dedupe key in the current transaction.

        True: the first delivery of this event to this consumer: apply the effect. False: it
        was handled before (its effect committed): skip the effect.
        """
        ...


class InMemoryInbox:
    """The inbox for unit tests, transactional like the real one.

    A fake unit of work calls :meth:`commit` and :meth:`rollback` with its own. ``keys`` are the
    committed dedupe keys; ``admissions`` counts the committed effects let through per key.
    """

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.admissions: Counter[str] = Counter()
        self.staged: list[str] = []

    def admit(self, delivery: Delivery) -> bool:
        if delivery.dedupe_key in self.keys or delivery.dedupe_key in self.staged:
            metrics.note_duplicate()
            return False
        self.staged.append(delivery.dedupe_key)
        return True

    def commit(self) -> None:
        self.keys.update(self.staged)
        self.admissions.update(self.staged)
        self.staged.clear()

    def rollback(self) -> None:
        self.staged.clear()


def _seconds(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a number of seconds") from None
    if seconds <= 0:
        raise ValueError(f"{name}={raw!r}: must be more than 0 seconds")
    return timedelta(seconds=seconds)


def retention_from_env(env: Mapping[str, str] | None = None) -> timedelta:
    """The dedupe window: ``INBOX_RETENTION_SECONDS``, else :data:`DEFAULT_RETENTION`."""
    return _seconds(os.environ if env is None else env, RETENTION_ENV, DEFAULT_RETENTION)


def purge_every_from_env(env: Mapping[str, str] | None = None) -> timedelta:
    """How often to purge: ``INBOX_PURGE_EVERY_SECONDS``, else :data:`DEFAULT_PURGE_EVERY`."""
    return _seconds(os.environ if env is None else env, PURGE_EVERY_ENV, DEFAULT_PURGE_EVERY)
