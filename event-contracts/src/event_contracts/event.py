"""The ``Event`` descriptor: declare an event on its message class, publish it, subscribe to it.

As in the seed article, an event is an attribute of the message it carries::

    @attrs.frozen
    class Order:
        ...
        submit = Event("order", "order.v2.submit",
                       previous=[PreviousVersion("order.v1.submit", OrderV1, upcast)])

    order.submit()                            # on an instance: publish this message
    @Order.submit.register_callback           # on the class: subscribe a handler
    def post_invoice(order: Order, delivery: Delivery) -> None: ...

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
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload
from uuid import NAMESPACE_URL, UUID, uuid5

import attrs

from event_contracts.serialization import structure, unstructure, utc_now
from event_contracts.topology import RoutingKey

if TYPE_CHECKING:
    from event_contracts.runtime.publisher import Publisher

M = TypeVar("M")
Old = TypeVar("Old")


@attrs.frozen
class Delivery:
    """What a consumer knows about one delivery of an event besides its payload."""

    event_id: UUID
    routing_key: str
    consumer: str = ""
    correlation_id: str | None = None
    retries: int = 0
    redelivered: bool = False
    headers: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def dedupe_key(self) -> str:
        """The idempotency key: one consumer handles one event id once."""
        return f"{self.consumer}:{self.event_id}"

    @property
    def occurred_at(self) -> datetime:
        """When the producer says it happened (header ``occurred-at``), else now."""
        stamp = self.headers.get("occurred-at")
        return datetime.fromisoformat(stamp) if isinstance(stamp, str) else utc_now()

    @staticmethod
    def event_id_from(message_id: str, routing_key: str) -> UUID:
        """A message id as an event id: the UUID itself, else a stable UUID derived from it."""
        try:
            return UUID(message_id)
        except ValueError:
            return uuid5(NAMESPACE_URL, f"shop:{routing_key}:{message_id}")


class EventMessage(Protocol):
    """What every newest-version message carries."""

    @property
    def event_id(self) -> UUID: ...

    @property
    def occurred_at(self) -> datetime: ...


@attrs.frozen
class PreviousVersion(Generic[Old]):
    """An older schema of an event that consumers still accept.

    ``upcast`` turns an ``Old`` into the next newer version (given the delivery, for defaults
    such as the event id that older schemas lacked); versions chain oldest first.
    """

    routing_key: str
    message_type: type[Old]
    upcast: Callable[[Old, Delivery], Any]


Callback = Callable[..., Any]


@attrs.define
class _Subscriber:
    function: Callback
    wants_delivery: bool


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
        self._subscribers: list[_Subscriber] = []

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
        """Subscribe ``callback(message)`` or ``callback(message, delivery)`` to every version.

        Used as a decorator in a consumer's module; the service's Celery app (see
        :func:`event_contracts.runtime.create_app`) dispatches to it. Returns the callback.
        """
        params = [
            p
            for p in inspect.signature(callback).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        self._subscribers.append(_Subscriber(callback, wants_delivery=len(params) >= 2))
        return callback

    def unregister_callback(self, callback: Callback) -> None:
        self._subscribers = [s for s in self._subscribers if s.function is not callback]

    @property
    def callbacks(self) -> tuple[Callback, ...]:
        return tuple(s.function for s in self._subscribers)

    def decode(self, routing_key: str, payload: Any, delivery: Delivery) -> M:
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
                    message = step.upcast(message, delivery)
                return message  # type: ignore[no-any-return]
        raise KeyError(f"{routing_key} is not a version of {self.routing_key}")

    def encode(self, message: M) -> dict[str, Any]:
        if not isinstance(message, self.message_type):
            raise TypeError(f"{self.routing_key} carries {self.message_type.__name__}, got {message!r}")
        return unstructure(message)

    def dispatch(self, message: M, delivery: Delivery) -> None:
        """Run every subscribed callback; the first exception propagates (the runtime retries)."""
        for subscriber in self._subscribers:
            if subscriber.wants_delivery:
                subscriber.function(message, delivery)
            else:
                subscriber.function(message)

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

    def __call__(self, *, publisher: Publisher | None = None, correlation_id: str | None = None) -> UUID:
        """Publish (persistent, confirmed, mandatory); returns the event id."""
        from event_contracts.runtime.publisher import default_publisher

        return (publisher or default_publisher()).publish(
            self.event, self.message, correlation_id=correlation_id
        )
