"""RabbitMQ's management HTTP API (rabbit1's, as the administrator): queues, counters, leaders.

Queue message statistics are sampled (every 5 s by default), so checks on them poll.
The API is served by rabbit1 only: while that node is down it does not answer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from e2e.clients.waits import wait_until

COUNTERS = ("publish", "deliver_get", "ack", "redeliver")


class BrokerAdmin:
    def __init__(self, base_url: str, user: str, password: str, vhost: str) -> None:
        self.vhost = vhost
        self.http = httpx.Client(base_url=f"{base_url.rstrip('/')}/api", auth=(user, password), timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params or None)
        response.raise_for_status()
        return response.json()

    def queue(self, name: str) -> dict[str, Any]:
        path = f"/queues/{quote(self.vhost, safe='')}/{quote(name, safe='')}"
        result: dict[str, Any] = self._get(path)
        return result

    def queues(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(f"/queues/{quote(self.vhost, safe='')}")
        return result

    def binding_keys(self, queue: str, exchange: str) -> list[str]:
        """The routing keys ``queue`` is bound with on ``exchange``."""
        vhost = quote(self.vhost, safe="")
        bindings = self._get(f"/queues/{vhost}/{quote(queue, safe='')}/bindings")
        keys = [b["routing_key"] for b in bindings if b.get("source") == exchange]
        assert keys, f"{queue} has no binding on {exchange}"
        return keys

    def counters(self, name: str) -> dict[str, int]:
        """A queue's cumulative ``publish``/``deliver_get``/``ack``/``redeliver``, and ``messages``."""
        queue = self.queue(name)
        stats = queue.get("message_stats") or {}
        counts = {k: int(stats.get(k, 0)) for k in COUNTERS}
        counts["messages"] = int(queue.get("messages") or 0)
        return counts

    def leader(self, name: str) -> str:
        """The node leading a quorum queue (``rabbit@rabbit1``)."""
        queue = self.queue(name)
        node = queue.get("leader") or queue.get("node")
        assert node, f"queue {name} has no leader/node in the management API: {queue}"
        return str(node)

    def quorum_members(self) -> dict[str, tuple[int, int]]:
        """Each quorum queue of the vhost: (members, online members)."""
        return {
            q["name"]: (len(q.get("members") or []), len(q.get("online") or []))
            for q in self.queues()
            if q.get("type") == "quorum"
        }

    def not_fully_online(self, expected: int = 3) -> dict[str, tuple[int, int]]:
        members = self.quorum_members()
        assert members, "no quorum queues in the vhost"
        return {name: m for name, m in members.items() if m != (expected, expected)}

    def wait_all_online(self, *, expected: int = 3, timeout: float = 120) -> None:
        state: dict[str, Any] = {}

        def done() -> bool:
            state.clear()
            state.update(self.not_fully_online(expected))
            return not state

        wait_until(
            done,
            timeout=timeout,
            interval=0.5,
            what=f"every quorum queue to have {expected} online members",
            describe=lambda: f"queues not there yet (members, online): {state}",
        )
