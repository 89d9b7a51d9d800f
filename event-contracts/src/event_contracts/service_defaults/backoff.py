"""The one backoff the platform uses (tenacity, not hand-written loops).

Exponential from ``first`` seconds (doubling) to at most ``longest``, for at most ``timeout``
seconds or ``attempts`` attempts, logging each wait; the last error is raised as it was once
they are used up. Start-up waits (the database) and the publisher's confirmed publish use it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
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
    attempts: int | None = None,
    first: float = 0.5,
    longest: float = 5.0,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> Retrying:
    """A tenacity ``Retrying`` for ``errors``: ``for attempt in retrying(...): with attempt: ...``.

    ``attempts``: stop after that many attempts instead of after ``timeout`` seconds.
    ``on_retry(error, wait)``: called before each wait instead of the default warning.
    """

    def note(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if on_retry is not None and error is not None:
            on_retry(error, wait)
        else:
            log.warning("%s failed (%s); trying again in %.1f s", what, error, wait)

    return Retrying(
        retry=retry_if_exception_type(errors),
        wait=wait_exponential(multiplier=first, max=longest),
        stop=stop_after_attempt(attempts) if attempts is not None else stop_after_delay(timeout),
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
