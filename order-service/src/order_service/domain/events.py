"""What happened to an order inside one transaction; the unit of work turns each into an outbox
row carrying the platform's ``event_contracts.Order`` message (see adapters/outbox.py)."""

from __future__ import annotations

import attrs


@attrs.frozen
class Submitted:
    """The order was placed (published as ``order.v2.submit``)."""


@attrs.frozen
class ChargedBack:
    """The order's payment was charged back (published as ``order.v2.chargeback``)."""


Event = Submitted | ChargedBack
