"""Reading a dead-letter queue without costing a message, and moving messages out confirmed.

A quorum queue counts every return of a message (a ``basic.nack``/``reject`` with requeue, or a
channel closed with the message unacknowledged) towards its delivery limit, up to RabbitMQ 4.2,
and drops or dead-letters the message at the limit. Peeking by get-and-requeue would therefore
cost a message after ``delivery-limit`` looks. Instead each message is taken once and either

- **kept**: a copy is published to the tail of the same queue (confirmed), then the original is
  acknowledged: the copy is a new message with a fresh delivery count;
- **moved**: a copy is published to another queue (confirmed), then the original is acked;
- **dropped**: acknowledged.

The walk visits exactly the messages that were ready when it began, so keeping every one leaves
the queue in its order. An interrupted walk loses nothing (the unacknowledged message returns;
at worst one message is then in the queue twice, or in both queues), and leaves the queue
rotated, its cyclic order kept. The consumer is exclusive: two walks never interleave.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import amqp
import attrs
from amqp.exceptions import (
    AccessRefused,
    ChannelError,
    ConnectionForced,
    MessageNacked,
    NotAllowed,
    NotFound,
    RecoverableConnectionError,
)
from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.utils.url import parse_url

from event_contracts.dlq.model import DeadLetter

NEXT_MESSAGE_TIMEOUT = 10.0
"""Seconds to wait for the next ready message before deciding someone else took it."""
DROPPED_PROPERTIES = ("application_headers", "user_id")
"""``user_id`` must equal the publishing user, which the operator is not."""


class DlqError(Exception):
    """A failure the command reports in one line, with its exit code."""

    exit_code = 1


class QueueNotFound(DlqError):
    exit_code = 4


class PermissionDenied(DlqError):
    exit_code = 5


class BrokerUnreachable(DlqError):
    exit_code = 6


class QueueBusy(DlqError):
    exit_code = 7


@attrs.frozen
class Keep:
    """Back to the tail of the queue it came from, unchanged."""


@attrs.frozen
class Move:
    """To ``queue`` (through the default exchange: that queue alone), with ``headers``."""

    queue: str
    headers: dict[str, Any]


@attrs.frozen
class Drop:
    """Acknowledged and gone."""


Action = Keep | Move | Drop
Visit = Callable[[DeadLetter], Action]
Done = Callable[[DeadLetter, Action], None]
"""Called once the action is complete (copy confirmed, original acked)."""


class Broker:
    """An operator's connection to one vhost, with publisher confirms."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        parts = parse_url(url)
        host = parts.get("hostname") or "localhost"
        self.where = f"{host}:{parts.get('port') or 5672}/{parts.get('virtual_host') or '/'}"
        self.connection = amqp.Connection(
            host=f"{host}:{parts.get('port') or 5672}",
            userid=parts.get("userid") or "guest",
            password=parts.get("password") or "guest",
            virtual_host=parts.get("virtual_host") or "/",
            confirm_publish=True,
            connect_timeout=timeout,
        )
        self.user = parts.get("userid") or "guest"
        self.vhost = parts.get("virtual_host") or "/"

    def __enter__(self) -> Broker:
        with self.errors():
            self.connection.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        with suppress(Exception):  # closing a broken connection: the original error is what matters
            self.connection.close()

    @contextmanager
    def errors(self, queue: str | None = None) -> Iterator[None]:
        """Broker and socket errors as :class:`DlqError` lines an operator can act on."""
        what = f"queue {queue!r} in vhost {self.vhost!r}" if queue else f"vhost {self.vhost!r}"
        try:
            yield
        except NotFound as exc:
            raise QueueNotFound(f"no {what} ({exc.reply_text})") from exc
        except AccessRefused as exc:
            text = str(exc.reply_text or exc)
            if "exclusive use" in text:
                raise QueueBusy(
                    f"{what} is being read by another consumer (another dlq command?): {text}"
                ) from exc
            raise PermissionDenied(f"user {self.user!r} may not do this on {what}: {text}") from exc
        except NotAllowed as exc:
            raise PermissionDenied(f"user {self.user!r} may not use {what}: {exc.reply_text}") from exc
        except (ConnectionForced, RecoverableConnectionError, AmqpConnectionError, OSError) as exc:
            if isinstance(exc, AmqpConnectionError) and getattr(exc, "reply_code", None) == 403:
                raise PermissionDenied(f"login refused for {self.user!r} at {self.where}: {exc}") from exc
            if isinstance(exc, socket.timeout | ConnectionRefusedError | socket.gaierror):
                raise BrokerUnreachable(f"broker at {self.where} unreachable: {exc!r}") from exc
            raise BrokerUnreachable(f"connection to {self.where} failed or was lost: {exc!r}") from exc
        except MessageNacked as exc:
            raise DlqError(f"the broker refused a copy (nack) on {what}; the original stays") from exc
        except ChannelError as exc:
            raise DlqError(f"{what}: {exc}") from exc

    def depth(self, queue: str) -> int:
        """Ready messages in ``queue``; :class:`QueueNotFound` if there is no such queue."""
        with self.errors(queue):
            channel = self.connection.channel()
            try:
                return int(channel.queue_declare(queue, passive=True).message_count)
            finally:
                if channel.is_open:
                    channel.close()

    def walk(self, queue: str, visit: Visit, *, on_done: Done | None = None) -> int:
        """Take every message ready in ``queue`` once, in order, and do what ``visit`` says.

        Each copy is confirmed by the broker before the original is acknowledged. Returns how
        many messages were visited.
        """
        with self.errors(queue):
            channel = self.connection.channel()
            count = int(channel.queue_declare(queue, passive=True).message_count)
            arrived: list[amqp.Message] = []
            channel.basic_qos(0, 1, False)
            # consumed even when empty: read permission and exclusivity are checked either way
            tag = channel.basic_consume(queue, callback=arrived.append, exclusive=True)
            visited = 0
            while visited < count:
                while not arrived:
                    try:
                        self.connection.drain_events(timeout=NEXT_MESSAGE_TIMEOUT)
                    except TimeoutError:
                        channel.close()
                        return visited  # fewer ready than counted: someone else took some
                message = arrived.pop(0)
                if visited == count - 1:
                    # before the last ack: else the broker hands this consumer the next message
                    # (the pass's first copy) and closing the channel returns it, a counted delivery
                    channel.basic_cancel(tag)
                letter = _letter(visited, message)
                action = visit(letter)
                self._apply(channel, queue, letter, message, action)
                visited += 1
                if on_done is not None:
                    on_done(letter, action)
            if count == 0:
                channel.basic_cancel(tag)
            channel.close()
            return visited

    def _apply(
        self, channel: Any, queue: str, letter: DeadLetter, message: amqp.Message, action: Action
    ) -> None:
        if isinstance(action, Keep):
            self._publish(channel, queue, letter, letter.republished_headers())
        elif isinstance(action, Move):
            with self.errors(action.queue):
                self._publish(channel, action.queue, letter, action.headers)
        channel.basic_ack(message.delivery_tag)

    @staticmethod
    def _publish(channel: Any, queue: str, letter: DeadLetter, headers: dict[str, Any]) -> None:
        """Through the default exchange, mandatory: unroutable (no such queue) raises, never vanishes."""
        properties = {k: v for k, v in letter.properties.items() if k not in DROPPED_PROPERTIES}
        properties["delivery_mode"] = 2
        copy = amqp.Message(letter.body, application_headers=headers, **properties)
        channel.basic_publish(copy, exchange="", routing_key=queue, mandatory=True)


def _letter(position: int, message: amqp.Message) -> DeadLetter:
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    properties = dict(message.properties)
    headers = dict(properties.get("application_headers") or {})
    return DeadLetter(position=position, body=body, properties=properties, headers=headers)
