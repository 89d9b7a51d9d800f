"""One way a domain error becomes a dead letter: with its reason, at once, never retried.

A callback that raises is retried privately with backoff, then dead-lettered as exhausted;
an error of the domain (a request the service refuses, a step that can never succeed) cannot
be fixed by retrying, so :func:`refusing` turns it into :class:`~event_contracts.PoisonMessage`,
which the runtime dead-letters at once (reason ``rejected-by-handler``, the error's text in the
detail): for event callbacks by itself, for a service's own tasks inside
``ServiceTask.handling()``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from event_contracts.errors import PoisonMessage

P = ParamSpec("P")
R = TypeVar("R")


def refusing(*errors: type[Exception]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a callback or task body: ``errors`` become a dead letter at once.

    The reason names what was refused, from the first argument: a message with an ``id``
    (``order 42: <the error>``), else the argument itself (``SHP-42: <the error>``).
    """

    def decorate(handler: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(handler)
        def refusing_handler(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return handler(*args, **kwargs)
            except errors as exc:
                subject = describe(args[0]) if args else handler.__name__
                raise PoisonMessage(f"{subject}: {exc}") from exc

        return refusing_handler

    return decorate


def describe(subject: object) -> str:
    """``order 42`` for a message with an id (its kind and id), else the subject as text."""
    identity = getattr(subject, "id", None)
    if identity is None:
        return str(subject)
    return f"{type(subject).__name__.lower()} {identity}"
