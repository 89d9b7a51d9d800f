"""event-contracts: the shop platform's shared event contracts and messaging runtime.

Everything a service imports from the platform is listed in ``__all__``; the rest is internal.
The contracts (messages, codec, topology) import only attrs and cattrs; the names that belong
to the Celery adapter (:mod:`event_contracts.runtime`: ``create_app``, ``Publisher``, ...) are
loaded on first use, so ``import event_contracts.messages`` loads no broker library.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from event_contracts.delivery import Delivery
from event_contracts.errors import (
    ContractError,
    FieldError,
    PoisonMessage,
    PublishFailed,
    RemoteCallError,
    RemoteCallTimeout,
    UnroutableMessage,
)
from event_contracts.event import EVENTS, BoundEvent, Envelope, Event, PreviousVersion, use_publisher
from event_contracts.idempotency import InMemoryProcessedEvents, ProcessedEvents
from event_contracts.inbox import DEFAULT_RETENTION, Inbox, InMemoryInbox
from event_contracts.messages import (
    GET_BALANCE,
    GET_INVOICE,
    BalanceQuery,
    BalanceView,
    Invoice,
    InvoiceQuery,
    InvoiceView,
    Order,
    OrderLine,
    OrderLineV1,
    OrderV1,
    Shipment,
)
from event_contracts.rpc import REMOTE_CALLS, NotFound, RemoteCall
from event_contracts.serialization import CurrencyCode, Money, Quantity, structure, unstructure
from event_contracts.subscriptions import Subscriptions
from event_contracts.topology import TOPOLOGY, RoutingKey, Subscription, Topology

if TYPE_CHECKING:
    from event_contracts.runtime import Publisher, RetryPolicy, RpcClient, connect, create_app

_RUNTIME_NAMES = frozenset({"Publisher", "RetryPolicy", "RpcClient", "connect", "create_app"})


def __getattr__(name: str) -> Any:
    """The Celery adapter's names, imported when first asked for (PEP 562)."""
    if name in _RUNTIME_NAMES:
        value = getattr(import_module("event_contracts.runtime"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


try:
    __version__ = version("event-contracts")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_RETENTION",
    "EVENTS",
    "GET_BALANCE",
    "GET_INVOICE",
    "REMOTE_CALLS",
    "TOPOLOGY",
    "BalanceQuery",
    "BalanceView",
    "BoundEvent",
    "ContractError",
    "CurrencyCode",
    "Delivery",
    "Envelope",
    "Event",
    "FieldError",
    "InMemoryInbox",
    "InMemoryProcessedEvents",
    "Inbox",
    "Invoice",
    "InvoiceQuery",
    "InvoiceView",
    "Money",
    "NotFound",
    "Order",
    "OrderLine",
    "OrderLineV1",
    "OrderV1",
    "PoisonMessage",
    "PreviousVersion",
    "ProcessedEvents",
    "PublishFailed",
    "Publisher",
    "Quantity",
    "RemoteCall",
    "RemoteCallError",
    "RemoteCallTimeout",
    "RetryPolicy",
    "RoutingKey",
    "RpcClient",
    "Shipment",
    "Subscription",
    "Subscriptions",
    "Topology",
    "UnroutableMessage",
    "__version__",
    "connect",
    "create_app",
    "structure",
    "unstructure",
    "use_publisher",
]
