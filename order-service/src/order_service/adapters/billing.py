"""Billing's answers, asked over the broker (``billing.sync``; replies via ``order.reply``)."""

from __future__ import annotations

import abc
from typing import Any

from amqp.exceptions import ConnectionError as AmqpConnectionError
from event_contracts import (
    GET_INVOICE,
    InvoiceQuery,
    RemoteCallError,
    RemoteCallTimeout,
    RpcClient,
    unstructure,
)
from kombu.exceptions import OperationalError


class InvoiceNotFound(LookupError):  # noqa: N818
    pass


class BillingTimeout(TimeoutError):  # noqa: N818
    pass


class BillingUnavailable(ConnectionError):  # noqa: N818
    """The broker could not be reached (or refused us): billing was never asked."""


class BillingError(RuntimeError):
    """Billing answered with an error other than not-found."""


class AbstractBilling(abc.ABC):
    timeout: float

    @abc.abstractmethod
    def invoice(self, order_id: int) -> dict[str, Any]:
        """The order's invoice as JSON, or InvoiceNotFound / BillingTimeout / ..."""


class RpcBilling(AbstractBilling):
    def __init__(self, client: RpcClient, timeout: float) -> None:
        self.client, self.timeout = client, timeout

    def invoice(self, order_id: int) -> dict[str, Any]:
        try:
            view = self.client.call(
                GET_INVOICE, InvoiceQuery(order_id=order_id), timeout=self.timeout
            )
        except RemoteCallTimeout as exc:
            raise BillingTimeout(str(exc)) from exc
        except RemoteCallError as exc:
            if exc.kind == "not-found":
                raise InvoiceNotFound(str(exc)) from exc
            raise BillingError(str(exc)) from exc
        except (OSError, OperationalError, AmqpConnectionError) as exc:
            raise BillingUnavailable(f"the broker is unreachable: {exc}") from exc
        return unstructure(view)
