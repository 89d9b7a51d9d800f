"""The Order aggregate: what was ordered, and where it stands according to billing and logistic.

The status is never set directly: the aggregate keeps one flag per fact it has learned and
derives the status from them, so facts may arrive in any order (a shipment dispatched before
its invoice is posted, a refund before the shipment is cancelled) and still end in the same
status::

    in_review ──invoiced──▶ invoiced ──dispatched──▶ dispatched
        │                      │                         │
        └──────────────── chargeback (any of the three) ─┘
                                   ▼
                              charged_back ──refunded + shipment cancelled──▶ cancelled
                                           └─refunded + shipment returned───▶ returned
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from order_service.domain import events
from order_service.domain.errors import InvalidTransition
from order_service.domain.money import normalized


class Status(enum.StrEnum):
    IN_REVIEW = "in_review"
    INVOICED = "invoiced"
    DISPATCHED = "dispatched"
    CHARGED_BACK = "charged_back"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class ShipmentOutcome(enum.StrEnum):
    CANCELLED = "cancelled"
    RETURNED = "returned"


FINAL = frozenset({Status.CANCELLED, Status.RETURNED})


def derive_status(
    *,
    invoiced: bool,
    dispatched: bool,
    charged_back: bool,
    refunded: bool,
    shipment_outcome: ShipmentOutcome | None,
) -> Status:
    """The one place the status comes from: a pure function of the facts learned so far."""
    if charged_back:
        if refunded and shipment_outcome is ShipmentOutcome.CANCELLED:
            return Status.CANCELLED
        if refunded and shipment_outcome is ShipmentOutcome.RETURNED:
            return Status.RETURNED
        return Status.CHARGED_BACK
    if invoiced and dispatched:
        return Status.DISPATCHED
    if invoiced:
        return Status.INVOICED
    return Status.IN_REVIEW


def utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.define(eq=False, slots=False)
class OrderLine:
    """``quantity`` items of product line ``line_id`` at ``unit_price`` each."""

    line_id: int
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


class Order:
    """An order and the facts known about it; ``events`` holds what happened in this transaction."""

    id: int | None
    customer_id: str
    currency: str
    lines: list[OrderLine]
    total: Decimal
    status: str
    invoiced: bool
    dispatched: bool
    refunded: bool
    charged_back: bool
    shipment_outcome: str | None
    created_at: datetime
    updated_at: datetime
    events: list[events.Event]

    def __init__(
        self,
        *,
        customer_id: str,
        currency: str,
        lines: Iterable[OrderLine],
        now: datetime | None = None,
    ) -> None:
        moment = now or utc_now()
        self.id = None
        self.customer_id = customer_id
        self.currency = currency
        self.lines = sorted(lines, key=lambda line: line.line_id)
        self.total = normalized(sum((line.total for line in self.lines), start=Decimal(0)))
        self.invoiced = self.dispatched = self.refunded = self.charged_back = False
        self.shipment_outcome = None
        self.status = Status.IN_REVIEW.value
        self.created_at = self.updated_at = moment
        self.events = []

    @classmethod
    def place(cls, *, customer_id: str, currency: str, lines: Iterable[OrderLine]) -> Order:
        """A new order, in review; records :class:`~events.Submitted`."""
        order = cls(customer_id=customer_id, currency=currency, lines=lines)
        order.events.append(events.Submitted())
        return order

    # --- what the customer (or the payment provider) does -------------------------------------

    def charge_back(self) -> None:
        """The payment was charged back: refund and stop or return the goods.

        Allowed once, from in_review, invoiced or dispatched; records :class:`~events.ChargedBack`.
        """
        if self.charged_back:
            raise InvalidTransition(
                self.id, Status(self.status), "chargeback", "the order is already charged back"
            )
        self.charged_back = True
        self._changed()
        self.events.append(events.ChargedBack())

    # --- facts from billing and logistic (idempotent: a flag set twice stays set) --------------

    def mark_invoiced(self) -> None:
        self.invoiced = True
        self._changed()

    def mark_dispatched(self) -> None:
        self.dispatched = True
        self._changed()

    def mark_refunded(self) -> None:
        self.refunded = True
        self._changed()

    def mark_shipment_cancelled(self) -> None:
        self._shipment_ended(ShipmentOutcome.CANCELLED)

    def mark_shipment_returned(self) -> None:
        self._shipment_ended(ShipmentOutcome.RETURNED)

    def _shipment_ended(self, outcome: ShipmentOutcome) -> None:
        if self.shipment_outcome not in (None, outcome.value):
            raise InvalidTransition(
                self.id,
                Status(self.status),
                f"shipment {outcome.value}",
                f"logistic already reported the shipment {self.shipment_outcome}",
            )
        self.shipment_outcome = outcome.value
        self._changed()

    @property
    def is_final(self) -> bool:
        return Status(self.status) in FINAL

    def _changed(self) -> None:
        status = derive_status(
            invoiced=self.invoiced,
            dispatched=self.dispatched,
            charged_back=self.charged_back,
            refunded=self.refunded,
            shipment_outcome=ShipmentOutcome(self.shipment_outcome)
            if self.shipment_outcome
            else None,
        )
        self.status = status.value
        self.updated_at = utc_now()
