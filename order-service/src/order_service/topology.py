"""Where order sits on the bus: the platform's topology, in which order is declared.

::

    order-service (relay) ── order.v1.submit, order.v1.chargeback... ──▶ [order]
    [billing]  ── billing.*.invoiced, billing.*.refunded ──────────────▶ order.billing
    [logistic] ── logistic.*.shipment_{dispatched,cancelled,returned} ─▶ order.logistic
                                                                         ──▶ order-service-worker

Its worker, its broker definitions and its broker user's permissions all come from it
(event-contracts' generators; ``python -m order_service.entrypoints.cli provisioning`` prints
them).
"""

from __future__ import annotations

from event_contracts import TOPOLOGY as PLATFORM
from event_contracts import Topology

NAME = "order"
TOPOLOGY: Topology = PLATFORM
SERVICE = TOPOLOGY.service(NAME)
