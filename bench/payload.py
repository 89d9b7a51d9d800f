"""The message every broker phase sends: one ``Order`` (v2) with one line, ~300 B of JSON.

The raw baselines send the same dict the platform would (``Order`` unstructured) with a fresh
event id, so every phase moves the same bytes.
"""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal
from typing import Any
from uuid import uuid4

from event_contracts import Money, Order, OrderLine, Quantity, unstructure

_ids = itertools.count(1)
_lock = threading.Lock()


def next_order_id() -> int:
    with _lock:
        return next(_ids)


def new_order() -> Order:
    """A fresh ``Order.submit`` event, as order-service builds one."""
    return Order.create(
        id=next_order_id(),
        customer_id="bench",
        currency="EUR",
        lines=(OrderLine(id=1, quantity=Quantity(2), unit_price=Money(Decimal("4.50"))),),
    )


TEMPLATE: dict[str, Any] = unstructure(new_order())


def raw_payload() -> tuple[str, dict[str, Any]]:
    """The same JSON as an order event, with a fresh event id, built without the contracts."""
    key = str(uuid4())
    return key, {**TEMPLATE, "event_id": key}
