"""Errors the platform raises; each says what happened and what to do about it."""

from __future__ import annotations

from event_contracts.serialization import ContractError, FieldError

__all__ = [
    "ContractError",
    "FieldError",
    "PoisonMessage",
    "PublishFailed",
    "RemoteCallError",
    "RemoteCallTimeout",
    "UnroutableMessage",
]


class UnroutableMessage(RuntimeError):
    """A mandatory publish matched no queue: the broker returned it instead of dropping it."""

    def __init__(self, exchange: str, routing_key: str) -> None:
        self.exchange, self.routing_key = exchange, routing_key
        super().__init__(
            f"no queue is bound on exchange {exchange!r} for routing key {routing_key!r}: "
            "is the topology imported (rabbitmq-init) and does a consumer subscribe to it?"
        )


class PublishFailed(RuntimeError):
    """The broker did not confirm a publish (nack, or no node reachable within the retries)."""


class PoisonMessage(Exception):
    """Raise from a callback to dead-letter the event at once: retrying cannot help."""


class RemoteCallError(RuntimeError):
    """The remote service answered a request/response call with an error."""

    def __init__(self, call: str, kind: str, message: str) -> None:
        self.call, self.kind = call, kind
        super().__init__(f"{call} failed ({kind}): {message}")


class RemoteCallTimeout(TimeoutError):
    """No answer within the timeout; the request expires in the broker, it is never run late."""

    def __init__(self, call: str, timeout: float) -> None:
        self.call, self.timeout = call, timeout
        super().__init__(f"{call} did not answer within {timeout:g} s")
