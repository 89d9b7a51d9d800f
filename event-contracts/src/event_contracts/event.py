"""The ``Event`` descriptor: declare an event on its message class, publish it, subscribe to it.

As in the seed article, an event is an attribute of the message it carries::

    @attrs.frozen
    class Order:
        ...
        submit = Event("order", "order.v2.submit",
                       previous=[PreviousVersion("order.v1.submit", OrderV1, upcast)])

    order.submit(publisher=publisher)         # on an instance: publish this message
    order.submit()                            # ... through the default (use_publisher / connect)
    @Order.submit.register_callback           # on the class: subscribe a handler
    def post_invoice(order: Order, delivery: Delivery) -> None: ...

This module is the codec's half of an event (encode, decode, upcast) and imports no broker
library. Publishing needs an :class:`EventPublisher` (``event_contracts.runtime.Publisher``),
passed in or set once as the default (a convenience for scripts; services pass theirs);
callbacks registered on the event are the seed article's sugar: each app made by
``event_contracts.runtime.create_app`` owns a :class:`~event_contracts.subscriptions.Subscriptions`
registry of its own and runs these shared callbacks first.

On the wire each version of an event is one Celery task named by its routing key
(``order.v1.submit``, ``order.v2.submit``), published on the producer's topic exchange::

    order.submit() ──▶ [order] ──order.v2.submit──▶ billing.order  (bound order.*.submit)
                              └─order.v2.submit──▶ logistic.order (bound order.*.submit)

Consumers bind every version (``order.*.submit``); whatever version arrives is structured in
its own schema and upcast, step by step, to the newest before any callback sees it, so callbacks
are only ever written against the newest class.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, overload
from uuid import UUID

import attrs

from event_contracts.serialization import structure, unstructure
from event_contracts.topology import RoutingKey

M = TypeVar("M")
Old = TypeVar("Old")
Callback = Callable[..., Any]


@attrs.frozen
class Envelope:
    """What an upcast may need besides the old message: facts older schemas did not carry.

    The runtime fills it from the message's headers (``event-id``, ``occurred-at``); a test
    builds one by hand. It is not the consumer's :class:`~event_contracts.delivery.Delivery`:
    decoding depends on the event alone, never on who received it or how often.
    """

    event_id: UUID
    occurred_at: datetime


class EventMessage(Protocol):
    """What every newest-version message carries."""

    @property
    def event_id(self) -> UUID: ...

    @property
    def occurred_at(self) -> datetime: ...


@attrs.frozen
class PreviousVersion(Generic[Old]):
    """An older schema of an event that consumers still accept.

    ``upcast`` turns an ``Old`` into the next newer version (given the envelope, for defaults
    such as the event id that older schemas lacked); versions chain oldest first.
    """

    routing_key: str
    message_type: type[Old]
    upcast: Callable[[Old, Envelope], Any]


@attrs.frozen
class Subscriber:
    """A callback and whether it takes the delivery as its second argument."""

    function: Callback
    wants_delivery: bool

    @classmethod
    def of(cls, callback: Callback) -> Subscriber:
        """``callback(message)`` or ``callback(message, delivery)``, told apart by its signature."""
        params = [
            p
            for p in inspect.signature(callback).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        return cls(callback, wants_delivery=len(params) >= 2)

    def __call__(self, message: Any, delivery: object) -> None:
        if self.wants_delivery:
            self.function(message, delivery)
        else:
            self.function(message)


class EventPublisher(Protocol):
    """Publishes an event's message (``event_contracts.runtime.Publisher`` is one)."""

    def publish(self, event: Event[Any], message: Any, *, correlation_id: str | None = None) -> UUID: ...


EVENTS: dict[str, Event[Any]] = {}
"""Every declared event by its newest routing key (filled as message classes are defined)."""


class Event(Generic[M]):
    """A versioned event on a producer's topic exchange; see the module docstring."""

    def __init__(
        self,
        exchange: str,
        routing_key: str,
        *,
        previous: Sequence[PreviousVersion[Any]] = (),
        summary: str = "",
    ) -> None:
        self.key = RoutingKey.parse(routing_key)
        if self.key.service != exchange:
            raise ValueError(f"{routing_key!r} must start with its exchange name {exchange!r}")
        older = [RoutingKey.parse(p.routing_key) for p in previous]
        if [k.version for k in older] != sorted(k.version for k in older) or any(
            k.version >= self.key.version or k.any_version != self.key.any_version for k in older
        ):
            raise ValueError(f"previous versions of {routing_key} must be older, oldest first")
        self.exchange = exchange
        self.previous = tuple(previous)
        self.summary = summary
        self.owner: type[M] | None = None
        self.attribute = ""
        self._subscribers: list[Subscriber] = []

    def __set_name__(self, owner: type[M], name: str) -> None:
        self.owner, self.attribute = owner, name
        EVENTS[self.routing_key] = self

    @overload
    def __get__(self, instance: None, owner: type[M]) -> Event[M]: ...
    @overload
    def __get__(self, instance: M, owner: type[M]) -> BoundEvent[M]: ...
    def __get__(self, instance: M | None, owner: type[M]) -> Event[M] | BoundEvent[M]:
        if instance is None:
            return self
        return BoundEvent(self, instance)

    @property
    def routing_key(self) -> str:
        """The newest version's routing key: what producers publish."""
        return str(self.key)

    @property
    def binding_key(self) -> str:
        """What consumers bind: every version of this event."""
        return self.key.any_version

    @property
    def message_type(self) -> type[M]:
        if self.owner is None:
            raise TypeError(f"{self.routing_key} is not declared on a message class")
        return self.owner

    def versions(self) -> dict[str, type[Any]]:
        """Every accepted routing key with the message type it carries, oldest first."""
        accepted: dict[str, type[Any]] = {p.routing_key: p.message_type for p in self.previous}
        accepted[self.routing_key] = self.message_type
        return accepted

    def register_callback(self, callback: Callback) -> Callback:
        """Subscribe ``callback(message)`` or ``callback(message, delivery)`` in every app.

        The seed article's decorator, for a consumer module's import-time callbacks. Every app
        made by :func:`event_contracts.runtime.create_app` runs it (before the callbacks
        registered on the app's own :class:`~event_contracts.subscriptions.Subscriptions`),
        much as Celery's ``shared_task`` joins every app. Returns the callback.
        """
        self._subscribers.append(Subscriber.of(callback))
        return callback

    def unregister_callback(self, callback: Callback) -> None:
        self._subscribers = [s for s in self._subscribers if s.function is not callback]

    @property
    def subscribers(self) -> tuple[Subscriber, ...]:
        """The callbacks registered on the event itself (every app runs them)."""
        return tuple(self._subscribers)

    @property
    def callbacks(self) -> tuple[Callback, ...]:
        return tuple(s.function for s in self._subscribers)

    def decode(self, routing_key: str, payload: Any, envelope: Envelope) -> M:
        """Structure ``payload`` in the schema of ``routing_key`` and upcast it to the newest.

        Raises :class:`~event_contracts.serialization.ContractError` (every bad field path) or
        ``KeyError`` for a version this event does not know.
        """
        if routing_key == self.routing_key:
            return structure(payload, self.message_type)
        for index, older in enumerate(self.previous):
            if older.routing_key == routing_key:
                message: Any = structure(payload, older.message_type)
                for step in self.previous[index:]:
                    message = step.upcast(message, envelope)
                return message  # type: ignore[no-any-return]
        raise KeyError(f"{routing_key} is not a version of {self.routing_key}")

    def encode(self, message: M) -> dict[str, Any]:
        if not isinstance(message, self.message_type):
            raise TypeError(f"{self.routing_key} carries {self.message_type.__name__}, got {message!r}")
        return unstructure(message)

    def __repr__(self) -> str:
        return f"Event({self.exchange!r}, {self.routing_key!r})"


class BoundEvent(Generic[M]):
    """``order.submit``: the event bound to a message, ready to publish."""

    __slots__ = ("event", "message")

    def __init__(self, event: Event[M], message: M) -> None:
        self.event = event
        self.message = message

    def __repr__(self) -> str:
        return f"{self.event.routing_key} of {self.message!r}"

    def __call__(self, *, publisher: EventPublisher | None = None, correlation_id: str | None = None) -> UUID:
        """Publish through ``publisher`` (else the one :func:`use_publisher` set); returns the event id."""
        return (publisher or default_publisher()).publish(
            self.event, self.message, correlation_id=correlation_id
        )


_default: EventPublisher | None = None
_default_lock = threading.Lock()


def use_publisher(publisher: EventPublisher | None) -> None:
    """Make ``order.submit()`` without ``publisher=`` publish through ``publisher``.

    Sugar for scripts and the seed article's snippets (``event_contracts.runtime.connect`` sets
    it); services pass their publisher explicitly and never need it.
    """
    global _default  # noqa: PLW0603 - the sugar's one process-wide slot
    with _default_lock:
        _default = publisher


def default_publisher() -> EventPublisher:
    """The publisher :func:`use_publisher` set; raises when there is none."""
    if _default is None:
        raise RuntimeError(
            "no publisher configured: call event_contracts.connect('<service>') at start-up, "
            "or pass publisher=... to the event"
        )
    return _default
