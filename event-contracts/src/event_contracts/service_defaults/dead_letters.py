"""One way a domain error becomes a dead letter: with its reason, at once, never retried.

A callback that raises is retried privately with backoff, then dead-lettered as exhausted;
an error of the domain (a request the service refuses) cannot be fixed by retrying, so
:func:`refusing` turns it into :class:`~event_contracts.PoisonMessage`, which the runtime
dead-letters at once with the error's text as the reason's detail.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from event_contracts.errors import PoisonMessage


class _Identified(Protocol):
    @property
    def id(self) -> Any: ...


M = TypeVar("M", bound=_Identified)
D = TypeVar("D")

Callback = Callable[[M, D], None]


def refusing(
    *errors: type[Exception],
) -> Callable[[Callable[[M, D], None]], Callable[[M, D], None]]:
    """Decorate a callback ``(message, delivery)``: ``errors`` dead-letter the message at once.

    The reason names the message (``order 42: <the error>``), like every service's DLQ entries.
    """

    def decorate(callback: Callable[[M, D], None]) -> Callable[[M, D], None]:
        @functools.wraps(callback)
        def refusing_callback(message: M, delivery: D) -> None:
            try:
                callback(message, delivery)
            except errors as exc:
                raise PoisonMessage(f"{describe(message)}: {exc}") from exc

        return refusing_callback

    return decorate


def describe(message: _Identified) -> str:
    """``order 42``: the message's kind and id, as dead-letter reasons name them."""
    return f"{type(message).__name__.lower()} {message.id}"
