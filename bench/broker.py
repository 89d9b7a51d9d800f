"""The broker side of the benchmark: management API calls and a throwaway vhost per run.

Every phase that talks AMQP directly runs in its own vhost ``bench-<random>``, created here
through the management API with the platform's generated topology imported
(``event_contracts.generate.definitions``) and the service users' least-privilege
permissions (``event_contracts.generate.permissions``), so the live shop's queues and the
e2e suite never see a benchmark message. The vhost is deleted at the end, whatever happens.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from base64 import b64encode
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
from event_contracts.generate import definitions, permissions

# The dev defaults of .env.example (a service user's password is <user>-dev).
DEFAULT_PASSWORDS = {
    "order-service": "order-service-dev",
    "billing-service": "billing-service-dev",
    "logistic-service": "logistic-service-dev",
}


@attrs.frozen
class Management:
    """A tiny client of RabbitMQ's management HTTP API."""

    url: str = "http://127.0.0.1:15672"
    user: str = "admin"
    password: str = "admin-dev"

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        request = urllib.request.Request(
            f"{self.url.rstrip('/')}/api/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
        )
        token = b64encode(f"{self.user}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def queue(self, vhost: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"queues/{q(vhost)}/{q(name)}")
        return result


def q(name: str) -> str:
    """Percent-encode a path segment (vhost and queue names contain dots and dashes)."""
    return urllib.parse.quote(name, safe="")


@attrs.frozen
class BenchVhost:
    """A vhost with the platform topology, for one benchmark run."""

    name: str
    amqp_ports: tuple[int, ...]
    host: str = "127.0.0.1"
    passwords: dict[str, str] = attrs.field(factory=lambda: dict(DEFAULT_PASSWORDS))
    admin: tuple[str, str] = ("admin", "admin-dev")

    def url(self, user: str = "admin", port: int | None = None) -> str:
        password = self.admin[1] if user == self.admin[0] else self.passwords[user]
        return f"amqp://{user}:{password}@{self.host}:{port or self.amqp_ports[0]}/{q(self.name)}"

    def urls(self, user: str = "admin") -> list[str]:
        """The failover list, one URL per cluster node, as the services get it."""
        return [self.url(user, port) for port in self.amqp_ports]


@contextmanager
def bench_vhost(
    management: Management, amqp_ports: Sequence[int], *, prefix: str = "bench", topology: bool = True
) -> Iterator[BenchVhost]:
    """Create ``<prefix>-<random>`` with the generated topology and permissions (or, with
    ``topology=False``, empty: for the admin user only); delete it after."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    management.call("PUT", f"vhosts/{q(name)}", {"description": "python -m bench (throwaway)"})
    try:
        management.call(
            "PUT",
            f"permissions/{q(name)}/{q(management.user)}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        if not topology:
            yield BenchVhost(name, tuple(amqp_ports), admin=(management.user, management.password))
            return
        generated = definitions(vhost=name)
        generated.pop("vhosts", None)
        management.call("POST", f"definitions/{q(name)}", generated, timeout=120)
        for row in permissions():
            management.call(
                "PUT",
                f"permissions/{q(name)}/{q(row['user'])}",
                {"configure": row["configure"], "write": row["write"], "read": row["read"]},
            )
        wait_for_replicas(management, name, [d["name"] for d in generated["queues"]])
        yield BenchVhost(name, tuple(amqp_ports), admin=(management.user, management.password))
    finally:
        delete_vhost(management, name)


def delete_vhost(management: Management, name: str) -> None:
    for attempt in range(5):
        try:
            management.call("DELETE", f"vhosts/{q(name)}", timeout=60)
            return
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return
            time.sleep(1 + attempt)
        except OSError:
            time.sleep(1 + attempt)
    print(f"warning: could not delete vhost {name}; remove it by hand (DELETE /api/vhosts/{name})")


def wait_for_replicas(management: Management, vhost: str, queues: Sequence[str], timeout: float = 30) -> None:
    """Until each quorum queue reports as many online members as the cluster has nodes."""
    nodes = len([n for n in management.get("nodes") if n.get("running")])
    deadline = time.monotonic() + timeout
    while True:
        rows = management.get(f"queues/{q(vhost)}?columns=name,online,members")
        short = [r["name"] for r in rows if r["name"] in queues and len(r.get("online") or ()) < nodes]
        if not short and len(rows) >= len(queues):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"quorum queues of {vhost} without {nodes} online members: {short}")
        time.sleep(0.5)


def declare_quorum_queue(url: str, name: str, exchange: str = "", routing_keys: Sequence[str] = ()) -> None:
    """A durable quorum queue (and topic exchange bindings) for the raw baselines."""
    from kombu import Connection, Exchange, Queue

    with Connection(url) as conn:
        channel = conn.channel()
        queue = Queue(name, durable=True, queue_arguments={"x-queue-type": "quorum"})
        queue(channel).declare()
        if exchange:
            topic = Exchange(exchange, type="topic", durable=True)
            topic(channel).declare()
            for key in routing_keys:
                channel.queue_bind(name, exchange, key)
