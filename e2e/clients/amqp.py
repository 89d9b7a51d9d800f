"""Plain kombu against the cluster: raw publishes (as a given broker user) and DLQ draining.

Nothing here uses event-contracts: the suite builds wire messages the way an outsider (or the
seed article's code) would, so it also proves the wire format.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from kombu import Connection, Producer
from kombu.message import Message

from e2e.clients.settings import Settings
from e2e.clients.waits import WaitTimeout

DLQ_REASON = "x-dead-letter-reason"


@contextmanager
def connection(settings: Settings, user: str) -> Iterator[Connection]:
    conn = Connection(settings.amqp_url(user), connect_timeout=5, transport_options={"confirm_publish": True})
    try:
        conn.ensure_connection(max_retries=3)
        yield conn
    finally:
        conn.release()


def task_headers(task: str, task_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """Celery protocol-2 headers of a task message named ``task``."""
    task_id = task_id or str(uuid.uuid4())
    return {
        "lang": "py",
        "task": task,
        "id": task_id,
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "eta": None,
        "expires": None,
        "argsrepr": "()",
        "kwargsrepr": "{...}",
        **extra,
    }


def task_body(**kwargs: Any) -> str:
    return json.dumps([[], kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])


def seed_v1_message(
    order_id: int,
    lines: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], str, str]:
    """The seed article's ``order.submit()`` on the wire: task ``order.v1.submit``, the order
    ``{"id": N, "lines": [{"id", "quantity", "price"}]}`` in kwargs ``instance``."""
    headers = task_headers("order.v1.submit")
    body = task_body(
        instance={
            "id": order_id,
            "lines": lines or [{"id": 1, "quantity": 2, "price": 3}, {"id": 2, "quantity": 1, "price": 4.5}],
        }
    )
    return headers, body, str(headers["id"])


def publish_raw(
    settings: Settings,
    user: str,
    exchange: str,
    routing_key: str,
    body: str | bytes,
    *,
    headers: Mapping[str, Any] | None = None,
    content_type: str = "application/json",
) -> None:
    """One persistent, confirmed publish of ``body`` as-is (no serializer) as broker ``user``."""
    with connection(settings, user) as conn:
        producer = Producer(conn.channel())
        producer.publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            headers=dict(headers or {}),
            content_type=content_type,
            content_encoding="utf-8",
            delivery_mode=2,
            declare=(),
            mandatory=True,
        )


def take_matching(
    settings: Settings,
    queue: str,
    match: Callable[[Message], bool],
    *,
    expect: int,
    timeout: float = 30,
    user: str | None = None,
) -> list[Message]:
    """Ack and return the messages of ``queue`` that ``match``, until ``expect`` were seen.

    Other messages are held unacknowledged while looking and go back to the queue when the
    channel closes: only what the caller recognises (its own ids) is removed.
    """
    taken: list[Message] = []
    user = user or settings.admin_user
    with connection(settings, user) as conn:
        channel = conn.channel()
        deadline = time.monotonic() + timeout
        while len(taken) < expect:
            raw = channel.basic_get(queue=queue, no_ack=False)
            if raw is None:
                if time.monotonic() >= deadline:
                    raise WaitTimeout(
                        f"gave up after {timeout:g} s waiting for {expect} matching message(s) "
                        f"in {queue} (got {len(taken)}: "
                        f"{[m.headers.get(DLQ_REASON) for m in taken]})"
                    )
                time.sleep(0.25)
                continue
            message = channel.message_to_python(raw)
            if match(message):
                message.ack()
                taken.append(message)
        channel.close()  # requeues everything else we held
    return taken


class Tap:
    """A private queue bound to ``exchange`` like another queue: sees what that queue is sent.

    Exclusive (gone with the connection) and never consumed by a service; use it as a context
    manager. ``take()`` returns what arrived so far (acked). Unlike the management API's sampled
    counters, it is exact and immediate.
    """

    def __init__(self, settings: Settings, exchange: str, binding_keys: list[str]) -> None:
        self.settings, self.exchange, self.binding_keys = settings, exchange, binding_keys
        self.name = f"e2e.tap.{uuid.uuid4().hex}"
        self.seen: list[Message] = []

    def __enter__(self) -> Tap:
        self.conn = Connection(self.settings.amqp_url(self.settings.admin_user), connect_timeout=5)
        self.conn.ensure_connection(max_retries=3)
        self.channel = self.conn.channel()
        self.channel.queue_declare(self.name, exclusive=True, auto_delete=True)
        for key in self.binding_keys:
            self.channel.queue_bind(self.name, self.exchange, key)
        return self

    def take(self) -> list[Message]:
        while (raw := self.channel.basic_get(queue=self.name, no_ack=True)) is not None:
            self.seen.append(self.channel.message_to_python(raw))
        return list(self.seen)

    def __exit__(self, *exc: object) -> None:
        try:
            self.channel.queue_delete(self.name)
        finally:
            self.conn.release()


def instance_of(message: Message) -> dict[str, Any]:
    """The ``instance`` kwarg of a task message's JSON body ({} when there is none)."""
    try:
        _, kwargs, _ = json.loads(message.body)
        instance = kwargs.get("instance")
    except (ValueError, TypeError, AttributeError):
        return {}
    return instance if isinstance(instance, dict) else {}


# Facts about orders the suite published itself (ids from 9,000,000,000) are dead-lettered by
# order-service, which never took those orders: billing's invoice, logistic's dispatch.
FACT_DLQS = ("order.billing.dlq", "order.logistic.dlq")


def take_facts_about(settings: Settings, order_id: int, *, timeout: float = 30) -> int:
    """Remove the facts about ``order_id`` that order-service dead-lettered; how many there were.

    Cleanup, not a check: order-service's policy for facts about orders it never took is its own
    (today: dead-letter them), so none arriving within ``timeout`` is not a failure.
    """
    taken = 0
    for dlq in FACT_DLQS:
        with suppress(WaitTimeout):
            taken += len(
                take_matching(
                    settings,
                    dlq,
                    lambda m: instance_of(m).get("order_id") == order_id,
                    expect=1,
                    timeout=timeout,
                )
            )
    return taken


def expect_access_refused(action: Callable[[Connection], Any], settings: Settings, user: str) -> Exception:
    """Run ``action`` on a fresh connection as ``user``; return the ACCESS_REFUSED it must hit."""
    from amqp.exceptions import AccessRefused

    conn = Connection(settings.amqp_url(user), connect_timeout=5)
    try:
        conn.ensure_connection(max_retries=3)
        try:
            action(conn)
            conn.drain_events(timeout=3)  # a refused publish closes the channel asynchronously
        except AccessRefused as exc:
            return exc
        except TimeoutError:
            pass
        raise AssertionError(f"{user}: {action.__doc__ or action} was not refused")
    finally:
        conn.release()
