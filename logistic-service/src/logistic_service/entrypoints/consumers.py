"""logistic on the bus: its callbacks on order events.

::

    [order] ── order.*.submit, order.*.chargeback ──▶ logistic.order ──▶ ship_order / charge_back

Every version of an order event arrives as :class:`~event_contracts.Order` (the runtime upcasts
v1). A callback that raises is retried privately with backoff, then dead-lettered: an unknown
shipment on a chargeback may only mean its submit is still on its way.
"""

from __future__ import annotations

from collections.abc import Callable

from event_contracts import Order, Subscriptions

from logistic_service.bootstrap import Handlers


def subscribe(handlers: Handlers, registry: Subscriptions) -> Callable[[], None]:
    """Register logistic's callbacks on an app's registry (``subscriptions_of(app)``); returns
    a function that removes them."""
    registry.register(Order.submit, handlers.ship_order)
    registry.register(Order.chargeback, handlers.charge_back)

    def unsubscribe() -> None:
        registry.unregister(Order.submit, handlers.ship_order)
        registry.unregister(Order.chargeback, handlers.charge_back)

    return unsubscribe
