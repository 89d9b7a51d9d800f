"""The HTTP edge (order-service behind gunicorn): orders in, statuses and invoices out."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from e2e.clients.waits import wait_until

FINAL_AFTER_CHARGEBACK = ("cancelled", "returned")


def order_body(
    *, customer_id: str | None = None, currency: str = "EUR", lines: Iterable[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """A valid ``POST /orders`` body; by default two lines worth 2 x 4.50 + 1 x 3.00 = 12.00."""
    return {
        "customer_id": customer_id or f"e2e-{uuid.uuid4().hex[:12]}",
        "currency": currency,
        "lines": list(lines)
        if lines is not None
        else [
            {"id": 1, "quantity": 2, "unit_price": "4.50"},
            {"id": 2, "quantity": 1, "unit_price": "3.00"},
        ],
    }


class Edge:
    def __init__(self, base_url: str, *, timeout: float = 15.0, max_connections: int = 64) -> None:
        self.http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def close(self) -> None:
        self.http.close()

    # --- raw calls (status codes are the callers' to check) -----------------------------
    def post_order(
        self,
        body: Any = None,
        *,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        fresh: bool = False,
    ) -> httpx.Response:
        """``fresh``: on its own connection, closed after (for answers that end the connection)."""
        if content is not None:
            kwargs: dict[str, Any] = {
                "content": content,
                "headers": {"Content-Type": "application/json", **(headers or {})},
            }
        else:
            kwargs = {"json": body, "headers": dict(headers or {})}
        if fresh:
            kwargs["headers"]["Connection"] = "close"
            with httpx.Client(base_url=self.http.base_url, timeout=self.http.timeout) as client:
                return client.post("/orders", **kwargs)
        return self.http.post("/orders", **kwargs)

    def get_order(self, order_id: int) -> httpx.Response:
        return self.http.get(f"/orders/{order_id}")

    def post_chargeback(self, order_id: int) -> httpx.Response:
        return self.http.post(f"/orders/{order_id}/chargeback")

    def get_invoice(self, order_id: int) -> httpx.Response:
        return self.http.get(f"/orders/{order_id}/invoice")

    # --- checked calls --------------------------------------------------------------------
    def submit(
        self, body: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None, attempts: int = 1
    ) -> dict[str, Any]:
        """``POST /orders`` → the created order (201), retried with the same Idempotency-Key.

        A retry after a lost response or a 5xx is safe: the edge answers the same order.
        """
        body = dict(body or order_body())
        key = idempotency_key or str(uuid.uuid4())
        last: object = None
        for _ in range(max(1, attempts)):
            try:
                response = self.post_order(body, headers={"Idempotency-Key": key})
            except httpx.TransportError as exc:
                last = exc
                continue
            if response.status_code == 201:
                order: dict[str, Any] = response.json()
                return order
            last = f"{response.status_code} {response.text[:300]}"
            if response.status_code < 500:
                break
        raise AssertionError(f"POST /orders did not create the order: {last}")

    def order(self, order_id: int) -> dict[str, Any]:
        response = self.get_order(order_id)
        assert response.status_code == 200, (
            f"GET /orders/{order_id}: {response.status_code} {response.text[:300]}"
        )
        result: dict[str, Any] = response.json()
        return result

    def chargeback(self, order_id: int) -> httpx.Response:
        response = self.post_chargeback(order_id)
        assert response.status_code == 202, (
            f"POST /orders/{order_id}/chargeback: {response.status_code} {response.text[:300]}"
        )
        return response

    def wait_for_status(
        self, order_id: int, statuses: str | Iterable[str], *, timeout: float = 60
    ) -> dict[str, Any]:
        wanted = (statuses,) if isinstance(statuses, str) else tuple(statuses)
        seen: dict[str, Any] = {}

        def reached() -> dict[str, Any] | None:
            seen.update(self.order(order_id))
            return dict(seen) if seen.get("status") in wanted else None

        return wait_until(
            reached,
            timeout=timeout,
            what=f"order {order_id} to reach status {' or '.join(wanted)}",
            describe=lambda: f"order now {seen!r}",
        )
