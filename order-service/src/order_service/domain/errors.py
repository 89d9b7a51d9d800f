"""Domain errors: each says what was refused and why, in words an API client can show."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from order_service.domain.model import Status


class OrderNotFound(LookupError):  # noqa: N818 - reads as what it is
    def __init__(self, order_id: int) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id} does not exist")


class InvalidTransition(Exception):  # noqa: N818
    """The order cannot do ``action`` in its current status."""

    def __init__(self, order_id: int | None, status: Status, action: str, reason: str) -> None:
        self.order_id, self.status, self.action, self.reason = order_id, status, action, reason
        super().__init__(f"order {order_id} ({status.value}): cannot {action}: {reason}")
