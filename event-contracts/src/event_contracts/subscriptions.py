"""An app's subscriptions: which callbacks run for each event, who answers each remote call.

:func:`event_contracts.runtime.create_app` makes one :class:`Subscriptions` per app, so two
apps in one process (a test's producer and consumer, a benchmark's workers) never share a
handler by accident. A service registers its callbacks on its own app's registry at start-up::

    subscriptions = subscriptions_of(app)          # event_contracts.runtime
    subscriptions.register(Order.submit, billing.invoice_order)
    subscriptions.register_responder(GET_INVOICE, billing.invoice)

Callbacks registered on the event itself (``@Order.submit.register_callback``, the seed
article's decorator) are shared: every app runs them, before its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from event_contracts.delivery import Delivery
from event_contracts.event import Event, Subscriber
from event_contracts.rpc import RemoteCall

F = TypeVar("F", bound=Callable[..., Any])
Req = TypeVar("Req")
Resp = TypeVar("Resp")


class Subscriptions:
    """Callbacks by event and responders by remote call, owned by one app."""

    def __init__(self) -> None:
        self._callbacks: dict[str, list[Subscriber]] = {}
        self._responders: dict[str, Callable[[Any], Any]] = {}

    def register(self, event: Event[Any], callback: F) -> F:
        """Run ``callback(message)`` or ``callback(message, delivery)`` for every version of ``event``."""
        self._callbacks.setdefault(event.routing_key, []).append(Subscriber.of(callback))
        return callback

    def on(self, event: Event[Any]) -> Callable[[F], F]:
        """``register`` as a decorator: ``@subscriptions.on(Order.submit)``."""

        def decorate(callback: F) -> F:
            return self.register(event, callback)

        return decorate

    def unregister(self, event: Event[Any], callback: Callable[..., Any]) -> None:
        own = self._callbacks.get(event.routing_key, [])
        self._callbacks[event.routing_key] = [s for s in own if s.function is not callback]

    def subscribers(self, event: Event[Any]) -> tuple[Subscriber, ...]:
        """The event's shared callbacks, then this app's own, in registration order."""
        return (*event.subscribers, *self._callbacks.get(event.routing_key, ()))

    def callbacks(self, event: Event[Any]) -> tuple[Callable[..., Any], ...]:
        return tuple(s.function for s in self.subscribers(event))

    def dispatch(self, event: Event[Any], message: Any, delivery: Delivery) -> None:
        """Run every callback of ``event``; the first exception propagates (the runtime retries)."""
        for subscriber in self.subscribers(event):
            subscriber(message, delivery)

    def register_responder(self, call: RemoteCall[Req, Resp], responder: Callable[[Req], Resp]) -> None:
        """``responder(request) -> response`` answers ``call`` in this app (in place of
        ``call.register_responder``'s, the shared one)."""
        self._responders[call.name] = responder

    def unregister_responder(self, call: RemoteCall[Any, Any]) -> None:
        self._responders.pop(call.name, None)

    def responder(self, call: RemoteCall[Req, Resp]) -> Callable[[Req], Resp] | None:
        """This app's responder to ``call``, else the shared one, else ``None``."""
        own = self._responders.get(call.name)
        return own if own is not None else call.responder
