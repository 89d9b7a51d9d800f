"""Billing's answers, asked over the broker (``billing.sync``; replies via ``order.reply``)."""

from __future__ import annotations

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

from order_service.service_layer.ports import (
    AbstractBilling,
    BillingError,
    BillingTimeout,
    BillingUnavailable,
    InvoiceNotFound,
)


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
