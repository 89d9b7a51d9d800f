"""What the app factory keeps in a service app's ``conf``, read back typed.

One module at the bottom of the runtime, so the consumer, the RPC client and the worker read
the app's service, topology and subscriptions without importing the app factory (which imports
them).
"""

from __future__ import annotations

from typing import Any

from event_contracts.subscriptions import Subscriptions
from event_contracts.topology import Topology

SERVICE = "shop_service"
TOPOLOGY = "shop_topology"
SUBSCRIPTIONS = "shop_subscriptions"


def service_of(app: Any) -> str:
    """The service ``app`` was made for (``create_app``'s first argument)."""
    return str(app.conf[SERVICE])


def topology_of(app: Any) -> Topology:
    topology: Topology = app.conf[TOPOLOGY]
    return topology


def subscriptions_of(app: Any) -> Subscriptions:
    """The app's own registry of callbacks and responders (made by ``create_app``)."""
    subscriptions: Subscriptions = app.conf[SUBSCRIPTIONS]
    return subscriptions
