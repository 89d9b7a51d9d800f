"""A confirmed publish: nacks and lost connections are tried again with the one backoff."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from amqp.exceptions import ChannelError, MessageNacked

from event_contracts.errors import PublishFailed, UnroutableMessage
from event_contracts.runtime.publisher import PUBLISH_RETRY_POLICY, publish_with_confirm

pytestmark = pytest.mark.unit


class FakeApp:
    """``producer_or_acquire()`` hands out a producer whose publishes fail ``failures`` first."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    @contextmanager
    def producer_or_acquire(self) -> Iterator[Any]:
        yield self

    def publish(self, body: Any, **_: Any) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    return slept


def publish(app: FakeApp) -> None:
    publish_with_confirm(app, {}, exchange="order", routing_key="order.v2.submit", headers={})  # type: ignore[arg-type]


def test_a_nack_is_published_again_after_a_backoff(waits: list[float]) -> None:
    app = FakeApp(MessageNacked(), ConnectionResetError())
    publish(app)
    assert app.calls == 3
    assert waits == [0.2, 0.4]


def test_it_gives_up_after_the_policys_attempts() -> None:
    attempts = int(PUBLISH_RETRY_POLICY["max_retries"]) + 1
    app = FakeApp(*[MessageNacked() for _ in range(attempts)])
    with pytest.raises(PublishFailed, match=f"after {attempts} attempts"):
        publish(app)
    assert app.calls == attempts


def test_an_unroutable_message_is_not_tried_again() -> None:
    app = FakeApp(ChannelError("NO_ROUTE", reply_code=312))
    with pytest.raises(UnroutableMessage):
        publish(app)
    assert app.calls == 1
