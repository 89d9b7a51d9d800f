"""The HTTP edge (order-service behind gunicorn): orders in, statuses and invoices out.

Every ``/orders`` call carries a bearer token from the stack's dev issuer (``Issuer``): an
order is POSTed as the customer its body names, reads and chargebacks go as ``support``
(which may read any order and is the only role that charges back). Pass ``token=`` to call
as someone else (e2e/test_edge_auth.py), ``token=""`` to send none.
"""

from __future__ import annotations

import json
import threading
import time
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


SUPPORT = "e2e-support"
ANONYMOUS_CUSTOMER = "e2e-customer"
TOKEN_LIFETIME = 4 * 3600


class Issuer:
    """The stack's dev token issuer (order-service-dev-issuer): ``GET /token`` mints one."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout)
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def mint(
        self, subject: str, *roles: str, audience: str | None = None, expires_in: int = TOKEN_LIFETIME
    ) -> str:
        """A fresh token (``expires_in`` < 0: one that expired that many seconds ago)."""
        params: list[tuple[str, str | int]] = [("sub", subject), ("expires_in", expires_in)]
        params += [("role", role) for role in roles]
        if audience:
            params.append(("aud", audience))
        response = self.http.get("/token", params=params)
        assert response.status_code == 200, f"dev issuer: {response.status_code} {response.text[:300]}"
        token: str = response.json()["access_token"]
        return token

    def token(self, subject: str, *roles: str) -> str:
        """A token for ``subject`` with ``roles``, reused until shortly before it expires."""
        key = (subject, tuple(sorted(roles)))
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached[0] > time.monotonic():
                return cached[1]
        token = self.mint(subject, *roles)
        with self._lock:
            self._cache[key] = (time.monotonic() + TOKEN_LIFETIME - 600, token)
        return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class Edge:
    def __init__(
        self, base_url: str, issuer: Issuer, *, timeout: float = 15.0, max_connections: int = 64
    ) -> None:
        self.issuer = issuer
        self.http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def close(self) -> None:
        self.http.close()

    def customer_token(self, body: Any = None, content: bytes | str | None = None) -> str:
        """A ``customer`` token for the customer the body names (else a fixed test customer)."""
        if content is not None:
            try:
                body = json.loads(content)
            except ValueError:
                body = None
        customer = body.get("customer_id") if isinstance(body, dict) else None
        named = isinstance(customer, str) and 0 < len(customer) <= 64
        return self.issuer.token(customer if named else ANONYMOUS_CUSTOMER, "customer")

    def support_token(self) -> str:
        return self.issuer.token(SUPPORT, "support")

    # --- raw calls (status codes are the callers' to check) -----------------------------
    def post_order(
        self,
        body: Any = None,
        *,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        fresh: bool = False,
        token: str | None = None,
    ) -> httpx.Response:
        """``fresh``: on its own connection, closed after (for answers that end the connection)."""
        auth = bearer(self.customer_token(body, content) if token is None else token)
        if content is not None:
            kwargs: dict[str, Any] = {
                "content": content,
                "headers": {"Content-Type": "application/json", **auth, **(headers or {})},
            }
        else:
            kwargs = {"json": body, "headers": {**auth, **(headers or {})}}
        if fresh:
            kwargs["headers"]["Connection"] = "close"
            with httpx.Client(base_url=self.http.base_url, timeout=self.http.timeout) as client:
                return client.post("/orders", **kwargs)
        return self.http.post("/orders", **kwargs)

    def get_order(self, order_id: int, *, token: str | None = None) -> httpx.Response:
        return self.http.get(f"/orders/{order_id}", headers=self._auth(token))

    def post_chargeback(self, order_id: int, *, token: str | None = None) -> httpx.Response:
        return self.http.post(f"/orders/{order_id}/chargeback", headers=self._auth(token))

    def get_invoice(self, order_id: int, *, token: str | None = None) -> httpx.Response:
        return self.http.get(f"/orders/{order_id}/invoice", headers=self._auth(token))

    def _auth(self, token: str | None) -> dict[str, str]:
        """Support's token by default: it reads any order and may charge back."""
        return bearer(self.support_token() if token is None else token)

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
