"""PostgreSQL LISTEN/NOTIFY: the relay sleeps until the API commits an outbox row.

A notification is only a hint (the relay still polls every ``poll_interval``), so a lost
connection just means polling until it is back.
"""

from __future__ import annotations

import logging
import time

import psycopg
from sqlalchemy.engine import URL

from order_service.adapters.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

RECONNECT_AFTER = 5.0


class OutboxListener:
    def __init__(self, url: URL) -> None:
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.connection: psycopg.Connection[tuple[object, ...]] | None = None
        self.failed_at = 0.0

    def _connect(self) -> psycopg.Connection[tuple[object, ...]] | None:
        if self.connection is not None and not self.connection.closed:
            return self.connection
        if time.monotonic() - self.failed_at < RECONNECT_AFTER:
            return None
        try:
            self.connection = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
            self.connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except psycopg.Error as exc:
            log.warning("LISTEN %s failed (%s): polling only", NOTIFY_CHANNEL, exc)
            self.failed_at = time.monotonic()
            self.connection = None
        return self.connection

    def wait(self, timeout: float) -> None:
        """Return at the first notification, or after ``timeout`` seconds."""
        connection = self._connect()
        if connection is None:
            time.sleep(timeout)
            return
        try:
            for _ in connection.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error as exc:
            log.warning("LISTEN connection lost (%s): polling until it is back", exc)
            self.close()
            self.failed_at = time.monotonic()

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
