"""Request/response contracts: a call is answered by one service over its ``<service>.sync`` queue.

Events say what happened and anyone may listen; a :class:`RemoteCall` asks one service a
question and waits (briefly) for the answer, as the seed article's sync queues do::

    order-service ──request──▶ [billing.sync] ──▶ billing.sync ──▶ billing worker
         ▲                                                            │
         └── order.reply.<id> ◀── [order.reply] ◀──── reply ──────────┘
             (the caller's exclusive reply queue, one per connection)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

Req = TypeVar("Req")
Resp = TypeVar("Resp")

REMOTE_CALLS: dict[str, RemoteCall[Any, Any]] = {}


class NotFound(LookupError):
    """Raise from a responder when the thing asked about does not exist."""


class RemoteCall(Generic[Req, Resp]):
    """``<service>.sync.<name>``: a typed question one service answers."""

    def __init__(
        self, name: str, request_type: type[Req], response_type: type[Resp], *, summary: str = ""
    ) -> None:
        service, sync, _ = name.split(".", 2)
        if sync != "sync":
            raise ValueError(f"remote call {name!r} must be named <service>.sync.<name>")
        self.name, self.service = name, service
        self.request_type, self.response_type = request_type, response_type
        self.summary = summary
        self.responder: Callable[[Req], Resp] | None = None
        REMOTE_CALLS[name] = self

    @property
    def queue(self) -> str:
        return f"{self.service}.sync"

    def register_responder(self, function: Callable[[Req], Resp]) -> Callable[[Req], Resp]:
        """The answering service's handler: takes the request, returns the response."""
        self.responder = function
        return function

    def __repr__(self) -> str:
        return f"RemoteCall({self.name!r})"
