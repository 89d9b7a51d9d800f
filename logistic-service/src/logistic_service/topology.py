"""Where logistic sits on the bus: the platform's topology, in which logistic is declared.

::

    [order] ── order.*.submit, order.*.chargeback ──▶ logistic.order ──▶ logistic-service
    [logistic.internal] ── its own tasks (pick, pack, dispatch, resume) ──▶ logistic.internal

Its worker, its broker definitions and its broker user's permissions all come from it
(event-contracts' generators; ``logistic-service provisioning`` prints them).
"""

from __future__ import annotations

from event_contracts import TOPOLOGY as PLATFORM
from event_contracts import Topology

NAME = "logistic"
TOPOLOGY: Topology = PLATFORM
SERVICE = TOPOLOGY.service(NAME)
