"""The broker topology as data: the one source of truth for exchanges, queues, bindings and users.

Everything else is generated from :data:`TOPOLOGY`: the RabbitMQ definitions infra imports, the
broker users' permissions, the AsyncAPI document, and the queues each service's Celery app
consumes. A new consumer is one more :class:`Subscription` here and never a change in a producer::

    producer            exchange (topic)       binding              queue (quorum)        consumer
    order-service ───▶  order  ──── order.*.submit, order.*.chargeback ──▶ billing.order ──▶ billing
                               └─── order.*.submit, order.*.chargeback ──▶ logistic.order ─▶ logistic
    billing-service ─▶  billing ─── billing.*.invoiced, ...refunded ─────▶ order.billing ──▶ order
    logistic-service ▶  logistic ── logistic.*.shipment_* ───────────────▶ order.logistic ─▶ order

    each consumed queue Q also has:
      <svc>.retry (direct) ── Q ──▶ Q.retry   (per-message TTL, then dead-lettered back into Q)
      <svc>.dlx   (direct) ── Q ──▶ Q.dlq     (poison and exhausted messages, with the reason)
    billing.sync (direct) ── billing.sync ──▶ billing.sync   (request/response)
    order.reply  (direct) ── order.reply.<id> ──▶ order.reply.<id>   (the caller's own exclusive
                                                  reply queue, one per connection; billing may
                                                  write here and nowhere else of order's)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import attrs

VHOST = "shop"
DELIVERY_LIMIT = 10
"""Redeliveries (e.g. after worker crashes) before the broker dead-letters a message itself."""

_ROUTING_KEY = re.compile(r"^(?P<service>[a-z][a-z_]*)\.v(?P<version>[1-9][0-9]*)\.(?P<event>[a-z][a-z_]*)$")


@attrs.frozen
class RoutingKey:
    """``<service>.v<N>.<event>``: who published, which schema version, what happened."""

    service: str
    version: int
    event: str

    @classmethod
    def parse(cls, text: str) -> RoutingKey:
        match = _ROUTING_KEY.match(text)
        if match is None:
            raise ValueError(f"routing key {text!r} is not of the form <service>.v<N>.<event>")
        return cls(match["service"], int(match["version"]), match["event"])

    @property
    def any_version(self) -> str:
        """The version-agnostic binding key consumers use: ``order.*.submit``."""
        return f"{self.service}.*.{self.event}"

    def __str__(self) -> str:
        return f"{self.service}.v{self.version}.{self.event}"


@attrs.frozen
class Subscription:
    """``consumer`` takes ``events`` (event names, every version) from ``producer``'s exchange."""

    consumer: str
    producer: str
    events: tuple[str, ...]

    @property
    def queue(self) -> str:
        return f"{self.consumer}.{self.producer}"

    @property
    def binding_keys(self) -> tuple[str, ...]:
        return tuple(f"{self.producer}.*.{event}" for event in self.events)


@attrs.frozen
class Service:
    """A service: the exchange it publishes on (its own name) and what else it owns or calls."""

    name: str
    answers_sync: bool = False
    """Serves request/response on ``<name>.sync``."""
    calls: tuple[str, ...] = ()
    """Services whose ``.sync`` queue it calls."""
    internal_queue: bool = False
    """Has ``<name>.internal`` for its own follow-up tasks (canvas steps, beat jobs)."""

    @property
    def user(self) -> str:
        """Broker user, folder, image and compose service share this name."""
        return f"{self.name}-service"

    @property
    def exchange(self) -> str:
        return self.name

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.name}.dlx"

    @property
    def retry_exchange(self) -> str:
        return f"{self.name}.retry"

    @property
    def sync_queue(self) -> str:
        return f"{self.name}.sync"

    @property
    def internal(self) -> str:
        return f"{self.name}.internal"

    @property
    def reply_exchange(self) -> str:
        """Direct exchange the answers to its remote calls come back through (callers only).

        Bound only to the caller's own reply queues, so the responder's write permission on it
        reaches nothing else: unlike the default exchange direct reply-to needs.
        """
        return f"{self.name}.reply"

    def reply_queue(self, suffix: str) -> str:
        """An exclusive reply queue of this caller (one per connection), named by ``suffix``."""
        return f"{self.reply_exchange}.{suffix}"

    @property
    def reply_queue_pattern(self) -> str:
        """A regular expression matching exactly this caller's reply queue names."""
        return re.escape(f"{self.reply_exchange}.") + "[0-9a-f]{32}"


@attrs.frozen
class Topology:
    vhost: str
    services: tuple[Service, ...]
    subscriptions: tuple[Subscription, ...]

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f"no service {name!r} in the topology (known: {[s.name for s in self.services]})")

    def subscriptions_of(self, consumer: str) -> tuple[Subscription, ...]:
        return tuple(s for s in self.subscriptions if s.consumer == consumer)

    def subscription_for(self, consumer: str, routing_key: RoutingKey) -> Subscription | None:
        """The subscription through which ``consumer`` receives events with ``routing_key``."""
        for sub in self.subscriptions_of(consumer):
            if sub.producer == routing_key.service and routing_key.event in sub.events:
                return sub
        return None

    def consumed_queues(self, consumer: str) -> tuple[str, ...]:
        """Queues the consumer's workers read, each of which has a ``.retry`` and a ``.dlq``."""
        service = self.service(consumer)
        queues = [s.queue for s in self.subscriptions_of(consumer)]
        if service.internal_queue:
            queues.append(service.internal)
        return tuple(queues)

    def worker_queues(self, consumer: str) -> tuple[str, ...]:
        """Everything the service's workers consume: event queues, internal, sync."""
        service = self.service(consumer)
        queues = list(self.consumed_queues(consumer))
        if service.answers_sync:
            queues.append(service.sync_queue)
        return tuple(queues)

    def callers_of(self, callee: str) -> tuple[Service, ...]:
        """Services that call ``callee``'s ``.sync`` queue (and so own a reply exchange)."""
        return tuple(s for s in self.services if callee in s.calls)

    def reply_route(self, callee: str, reply_to: str) -> tuple[str, str] | None:
        """(exchange, routing key) answering a call to ``callee`` whose ``reply_to`` is given.

        ``None`` unless ``reply_to`` names a reply queue of a service that calls ``callee``: a
        responder never publishes where a request merely asks it to.
        """
        for caller in self.callers_of(callee):
            if re.fullmatch(caller.reply_queue_pattern, reply_to):
                return caller.reply_exchange, reply_to
        return None

    def owner_of_queue(self, queue: str) -> Service:
        return self.service(queue.split(".", 1)[0])

    def including(self, service: Service, subscriptions: tuple[Subscription, ...]) -> Topology:
        """This topology plus ``service`` and its ``subscriptions``; itself if it has the service.

        A service made from the template declares itself this way, so it runs (and is provisioned
        on a running broker) before its lines are added here; once they are, these lines are the
        ones that count (they are what the generated broker definitions hold).
        """
        if any(known.name == service.name for known in self.services):
            return self
        return attrs.evolve(
            self, services=(*self.services, service), subscriptions=(*self.subscriptions, *subscriptions)
        )

    def iter_queue_names(self) -> Iterator[str]:
        for service in self.services:
            for queue in self.consumed_queues(service.name):
                yield queue
                yield f"{queue}.retry"
                yield f"{queue}.dlq"
            if service.answers_sync:
                yield service.sync_queue


TOPOLOGY = Topology(
    vhost=VHOST,
    services=(
        Service("order", calls=("billing",)),
        Service("billing", answers_sync=True),
        Service("logistic", internal_queue=True),
        # new services: make new-service adds them above this line
    ),
    subscriptions=(
        Subscription("billing", "order", ("submit", "chargeback")),
        Subscription("logistic", "order", ("submit", "chargeback")),
        Subscription("order", "billing", ("invoiced", "refunded")),
        Subscription("order", "logistic", ("shipment_dispatched", "shipment_cancelled", "shipment_returned")),
        # new subscriptions: make new-service adds them above this line
    ),
)
