"""Order ids taken from the database sequence before the order is written.

The order's events (outbox rows) and the HTTP answer carry its id, so with the id known up
front the order, its lines and its events can be written in one statement (see ``inserts``).
Ids are drawn ``block`` at a time per process (one round trip per block, not per order): they
stay unique, but are not gapless (a stopped process forgets the rest of its block) and, across
processes, not in creation order; ``created_at`` and the outbox id carry the order of events.
"""

from __future__ import annotations

import threading
from collections import deque

from sqlalchemy import Engine, text

_DRAW = text(
    "SELECT nextval(pg_get_serial_sequence('orders', 'id')) FROM generate_series(1, :count)"
)


class SequenceBlocks:
    """Thread-safe: gunicorn's threads share a worker process's block."""

    def __init__(self, engine: Engine, block: int = 32) -> None:
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.block = block
        self._ids: deque[int] = deque()
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            if not self._ids:
                with self.engine.connect() as connection:
                    self._ids.extend(connection.execute(_DRAW, {"count": self.block}).scalars())
            return self._ids.popleft()
