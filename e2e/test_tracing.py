"""One trace per order, on the wire: every event an order causes carries the trace id the edge
answered with (``traceresponse``, W3C Trace Context Level 2).

Taps (private queues of the admin user, bound like the consumers' queues) on the ``order``,
``billing`` and ``logistic`` exchanges and on logistic's own ``logistic.internal`` (the pick →
pack → dispatch chain) see each message of the order; each one's ``traceparent`` must name the
edge's trace. Works whether or not spans are exported (offline: no Jaeger, the ids still flow).
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

from kombu.message import Message

from e2e.clients.amqp import Tap, instance_of
from e2e.clients.databases import Databases
from e2e.clients.edge import Edge, order_body
from e2e.clients.settings import Settings
from e2e.clients.waits import wait_until

TAPS = {
    "order": ["order.*.submit"],
    "billing": ["billing.*.invoiced"],
    "logistic": ["logistic.*.shipment_dispatched"],
    "logistic.internal": ["logistic.internal"],
}
STEPS = ("logistic.internal.pick", "logistic.internal.pack", "logistic.internal.dispatch")


def trace_id(value: str | None) -> str | None:
    """The 32-hex trace id of a ``traceparent`` / ``traceresponse`` value."""
    parts = (value or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def kwargs_of(message: Message) -> dict[str, Any]:
    try:
        _, kwargs, _ = json.loads(message.body)
    except (ValueError, TypeError):
        return {}
    return kwargs if isinstance(kwargs, dict) else {}


def about(message: Message, order_id: int, shipment_id: str | None) -> bool:
    instance = instance_of(message)
    if instance.get("id") == order_id or instance.get("order_id") == order_id:
        return True
    return shipment_id is not None and kwargs_of(message).get("shipment_id") == shipment_id


def test_every_event_of_an_order_carries_the_trace_id_the_edge_returned(
    settings: Settings, edge: Edge, dbs: Databases, record
) -> None:
    with ExitStack() as stack:
        taps = [stack.enter_context(Tap(settings, exchange, keys)) for exchange, keys in TAPS.items()]
        response = edge.post_order(order_body())
        assert response.status_code == 201, response.text
        order_id = response.json()["id"]
        edge_trace = trace_id(response.headers.get("traceresponse"))
        assert edge_trace, f"no traceresponse header in {dict(response.headers)}"
        edge.wait_for_status(order_id, "dispatched", timeout=90)
        shipment = dbs.shipment(order_id)
        shipment_id = shipment["shipment_id"] if shipment else None

        def tasks_seen() -> list[str]:
            mine = [m for tap in taps for m in tap.take() if about(m, order_id, shipment_id)]
            return sorted(str(m.headers.get("task")) for m in mine)

        expected = sorted(
            ["order.v2.submit", "billing.v1.invoiced", "logistic.v1.shipment_dispatched", *STEPS]
        )
        wait_until(
            lambda: all(task in tasks_seen() for task in expected),
            timeout=30,
            what=f"the taps to see {expected} for order {order_id} (saw {tasks_seen()})",
        )
        messages = [m for tap in taps for m in tap.seen if about(m, order_id, shipment_id)]

    traces = {str(m.headers.get("task")): trace_id(m.headers.get("traceparent")) for m in messages}
    assert traces == dict.fromkeys(traces, edge_trace), f"edge trace {edge_trace}, events: {traces}"
    record(order=order_id, trace_id=edge_trace, events=len(messages))
