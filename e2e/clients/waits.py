"""Waiting for the stack: poll to a deadline, and say what was awaited when it never came."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition never held before its deadline (an AssertionError: the scenario failed)."""


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
    describe: Callable[[], str] | None = None,
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    Exceptions from the predicate count as "not yet" (a container restarting refuses
    connections); after ``timeout`` seconds it fails with ``what``, the last value or error,
    and ``describe()`` (the current state, e.g. counts) when given.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = predicate()
        except Exception as exc:  # noqa: BLE001 - "not yet", reported if it never recovers
            result, last = None, exc  # type: ignore[assignment]
        else:
            last = result
        if result:
            return result
        if time.monotonic() >= deadline:
            state = ""
            if describe is not None:
                try:
                    state = f"; state: {describe()}"
                except Exception as exc:  # noqa: BLE001
                    state = f"; state unavailable: {exc!r}"
            raise WaitTimeout(f"gave up after {timeout:g} s waiting for {what} (last: {last!r}){state}")
        time.sleep(interval)


class Stopwatch:
    """Seconds since it was made (monotonic)."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.start
