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


class FakeConnection:
    """A failover list of nodes: ``switches`` counts the moves to the next one."""

    recoverable_connection_errors = (ConnectionResetError, OSError)

    def __init__(self) -> None:
        self.switches = self.collected = 0
        self.connect_retries: list[int | None] = []

    def ensure_connection(self, max_retries: int | None = None) -> None:
        self.connect_retries.append(max_retries)

    def maybe_switch_next(self) -> None:
        self.switches += 1

    def collect(self) -> None:
        self.collected += 1


class FakeApp:
    """``producer_or_acquire()`` hands out a producer whose publishes fail ``failures`` first."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.connection = FakeConnection()
        self.retry_options: list[Any] = []

    @contextmanager
    def producer_or_acquire(self) -> Iterator[Any]:
        yield self

    def publish(self, body: Any, **options: Any) -> None:
        self.calls += 1
        self.retry_options.append(options["retry"])
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


def test_each_attempt_is_one_publish_and_at_most_one_connection_attempt() -> None:
    """The one backoff is this one: kombu's publish retry (a loop in a loop) stays off."""
    app = FakeApp(MessageNacked(), ConnectionResetError())
    publish(app)
    assert app.retry_options == [False, False, False]
    assert app.connection.connect_retries == [0, 0, 0]


def test_a_lost_connection_fails_over_to_the_next_node_a_nack_does_not() -> None:
    app = FakeApp(ConnectionResetError(), MessageNacked())
    publish(app)
    assert (app.connection.switches, app.connection.collected) == (1, 1)


def test_it_gives_up_after_the_policys_attempts_and_waits(waits: list[float]) -> None:
    attempts = int(PUBLISH_RETRY_POLICY["max_retries"]) + 1
    app = FakeApp(*[MessageNacked() for _ in range(attempts)])
    with pytest.raises(PublishFailed, match=f"after {attempts} attempts"):
        publish(app)
    assert app.calls == attempts
    assert waits == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_an_unroutable_message_is_not_tried_again() -> None:
    app = FakeApp(ChannelError("NO_ROUTE", reply_code=312))
    with pytest.raises(UnroutableMessage):
        publish(app)
    assert app.calls == 1
