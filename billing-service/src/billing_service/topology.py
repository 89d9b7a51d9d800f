"""Where billing sits on the bus: the platform's topology, in which billing is declared.

::

    [order] ── order.*.submit, order.*.chargeback ──▶ billing.order ──▶ billing-service
    [billing.sync] ── billing.sync.invoice, billing.sync.balance ──▶ billing.sync

Its worker, its broker definitions and its broker user's permissions all come from it
(event-contracts' generators; ``billing-service provisioning`` prints them).
"""

from __future__ import annotations

from event_contracts import TOPOLOGY as PLATFORM
from event_contracts import Topology

NAME = "billing"
TOPOLOGY: Topology = PLATFORM
SERVICE = TOPOLOGY.service(NAME)
