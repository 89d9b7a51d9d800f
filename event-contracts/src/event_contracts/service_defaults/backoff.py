"""The one backoff every service uses for start-up waits (tenacity, not hand-written loops).

Exponential from ``first`` seconds to at most ``longest``, for at most ``timeout`` seconds,
logging each wait; the last error is raised as it was once the time is up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


def retrying(
    errors: type[BaseException] | tuple[type[BaseException], ...],
    *,
    what: str,
    timeout: float = 60.0,
    first: float = 0.5,
    longest: float = 5.0,
) -> Retrying:
    """A tenacity ``Retrying`` for ``errors``: ``for attempt in retrying(...): with attempt: ...``."""

    def note(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s failed (%s); trying again in %.1f s", what, error, wait)

    return Retrying(
        retry=retry_if_exception_type(errors),
        wait=wait_exponential(multiplier=first, max=longest),
        stop=stop_after_delay(timeout),
        before_sleep=note,
        reraise=True,
    )


def call_with_backoff(
    call: Callable[[], T],
    errors: type[BaseException] | tuple[type[BaseException], ...],
    *,
    what: str,
    timeout: float = 60.0,
    first: float = 0.5,
    longest: float = 5.0,
) -> T:
    """``call()`` until it stops raising ``errors`` or ``timeout`` seconds have passed."""
    return retrying(errors, what=what, timeout=timeout, first=first, longest=longest)(call)
