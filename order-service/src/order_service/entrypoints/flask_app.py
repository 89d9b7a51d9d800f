"""The HTTP edge (Flask, served by gunicorn): orders in, orders and invoices out. JSON only.

``POST /orders`` and ``POST /orders/{id}/chargeback`` only write the database (the order and
its event in the outbox, one transaction): they never wait for the broker, so the edge keeps
taking orders through a broker outage. ``GET /orders/{id}/invoice`` is the one call that asks
another service, synchronously, with a deadline.

Every ``/orders`` route needs a bearer token (``Authorization: Bearer <JWT>``) the issuer signed
for this API: the token's subject, not the body, says which customer is calling (see
domain/identity.py). ``/healthz``, ``/readyz`` and ``/openapi.json`` stay open.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
from decimal import Decimal
from typing import Any, NoReturn

from event_contracts.service_defaults import logging as service_logging
from event_contracts.service_defaults import metrics, tracing
from flask import Flask, Response, request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from order_service import bootstrap
from order_service.adapters.database_errors import is_unreachable
from order_service.adapters.tokens import InvalidToken, IssuerUnavailable
from order_service.domain.errors import InvalidTransition, OrderNotFound
from order_service.domain.identity import Actor, Caller, Role
from order_service.entrypoints import openapi
from order_service.entrypoints.schemas import OrderRequestError, parse_order_request
from order_service.service_layer import commands, handlers, views
from order_service.service_layer.ports import (
    BillingError,
    BillingTimeout,
    BillingUnavailable,
    InvoiceNotFound,
    Verifier,
)

log = logging.getLogger(__name__)

JSON = "application/json"
MAX_ORDER_ID = 2**63 - 1
DATABASE_RETRY_AFTER_S = 5
"""``Retry-After`` of a 503 while the database is unreachable (a restart takes seconds)."""
_HEADER_VALUE = re.compile(r"^[\x21-\x7e]{1,200}$")
REALM = "shop"


class ApiError(Exception):
    """An error answer: status, message, and optionally field errors or more detail."""

    def __init__(
        self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        self.status, self.message, self.extra = status, message, extra
        self.headers = headers or {}
        super().__init__(message)


def bearer_challenge(error: str | None = None, description: str | None = None) -> str:
    """``WWW-Authenticate`` per RFC 6750: no error code when no token was sent at all."""
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        clean = "".join(c for c in description if c not in '"\\' and 0x20 <= ord(c) < 0x7F)
        parts.append(f'error_description="{clean}"')
    return "Bearer " + ", ".join(parts)


def unauthorized(message: str, error: str | None = "invalid_token") -> ApiError:
    challenge = bearer_challenge(error, message if error else None)
    return ApiError(401, message, headers={"WWW-Authenticate": challenge})


def forbidden(message: str, **extra: Any) -> ApiError:
    challenge = bearer_challenge("insufficient_scope", message)
    return ApiError(403, message, headers={"WWW-Authenticate": challenge}, **extra)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text_body = body if isinstance(body, str) else json.dumps(body)
    return Response(text_body, status=status, mimetype=JSON, headers=headers)


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": message, "status": status, **extra}


def create_app(services: bootstrap.Services | None = None) -> Flask:
    services = services or bootstrap.bootstrap()
    if services.verifier is None:
        raise RuntimeError(
            "no token issuer configured: set OIDC_ISSUER and OIDC_AUDIENCE (see README, "
            "Authentication); the edge does not serve orders to anonymous callers"
        )
    app = Flask("order_service")
    app.config["MAX_CONTENT_LENGTH"] = services.settings.max_content_length
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["order_service"] = services
    _orders_routes(app, services)
    _operations_routes(app, services)
    _error_handlers(app, services)
    metrics.instrument_flask(app)  # request durations by route and status (not on this port)
    service_logging.instrument_flask(app)  # X-Correlation-ID on the request's log lines
    return app


def _orders_routes(app: Flask, services: bootstrap.Services) -> None:
    @app.post("/orders")
    def place_order() -> Response:
        """Authenticate first, then read the body: an anonymous caller learns nothing about it.
        ---
        post:
          summary: Submit an order
          operationId: placeOrder
          description: Role `customer`; `customer_id` must be the token's subject (or left out).
          security: [{bearer: []}]
          parameters: [IdempotencyKey, CorrelationId]
          requestBody:
            required: true
            content:
              application/json:
                schema: OrderRequest
                example:
                  customer_id: c-1
                  currency: EUR
                  lines: [{id: 1, quantity: 2, unit_price: "4.50"}]
          responses:
            "201":
              description: Accepted, in review; the submit event is in the outbox.
              headers: {Location: {description: "`/orders/{id}`", schema: {type: string}}}
              content: {application/json: {schema: OrderView}}
            "400":
              description: Malformed JSON (or a bad header).
              content: {application/json: {schema: Error}}
            "401": Unauthorized
            "403": Forbidden
            "413":
              description: The body is over the size limit (64 KiB by default).
              content: {application/json: {schema: Error}}
            "415":
              description: Content-Type is not application/json.
              content: {application/json: {schema: Error}}
            "422":
              description: >-
                The order is not valid: `errors` names each field path; or the Idempotency-Key
                was used with another body.
              content: {application/json: {schema: Error}}
            "503": DatabaseUnavailable
        """
        caller = _require(services, Role.CUSTOMER)
        data = _for_caller(_json_body(services.settings.max_content_length), caller)
        try:
            order = parse_order_request(data)
        except OrderRequestError as exc:
            raise ApiError(422, "the order is not valid", errors=exc.errors) from None
        if order.customer_id != caller.subject:
            raise forbidden(
                "a customer places orders for itself only: customer_id must be the token's "
                "subject (or left out)",
                errors=[{"path": "$.customer_id", "message": "not the token's subject"}],
            )
        key = _header("Idempotency-Key")
        cmd = commands.PlaceOrder(
            customer_id=order.customer_id,
            currency=order.currency,
            lines=order.new_lines(),
            idempotency_key=key,
            request_hash=_fingerprint(caller.subject, data) if key else "",
            correlation_id=_correlation_id(),
            actor=Actor.of(caller),
        )
        try:
            result = handlers.place_order(cmd, services.uow())
        except handlers.IdempotencyKeyReused as exc:
            raise ApiError(
                422,
                str(exc),
                errors=[
                    {
                        "path": "headers.Idempotency-Key",
                        "message": "already used with another body",
                    },
                ],
            ) from None
        headers = {"Location": f"/orders/{result.order_id}"}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
        return json_response(result.body, result.status, headers)

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int) -> Response:
        """Another customer's order is 404, exactly as one that does not exist.
        ---
        get:
          summary: An order and its status
          operationId: getOrder
          description: Role `customer` (own orders; another's is 404) or `support` (any).
          security: [{bearer: []}]
          parameters: [OrderId]
          responses:
            "200": {description: The order., content: {application/json: {schema: OrderView}}}
            "401": Unauthorized
            "403": Forbidden
            "404": {description: No such order., content: {application/json: {schema: Error}}}
            "503": DatabaseUnavailable
        """
        caller = _reader(services)
        return json_response(handlers.get_order(_order_id(order_id), services.uow(), caller))

    @app.post("/orders/<int:order_id>/chargeback")
    def charge_back(order_id: int) -> Response:
        """Support only; the chargeback event is written with the order, in one transaction.
        ---
        post:
          summary: Charge an order back (refund; cancel or return the shipment)
          operationId: chargeBack
          description: Role `support` only.
          security: [{bearer: []}]
          parameters: [OrderId]
          responses:
            "202":
              description: Recorded; the chargeback event is in the outbox.
              content: {application/json: {schema: OrderView}}
            "401": Unauthorized
            "403": Forbidden
            "404": {description: No such order., content: {application/json: {schema: Error}}}
            "409":
              description: >-
                Not allowed in the order's status (already charged back, refunded, cancelled
                or returned).
              content: {application/json: {schema: Error}}
            "503": DatabaseUnavailable
        """
        caller = _require(services, Role.SUPPORT)
        cmd = commands.ChargeBack(
            order_id=_order_id(order_id), correlation_id=_correlation_id(), actor=Actor.of(caller)
        )
        return json_response(handlers.charge_back(cmd, services.uow()), 202)

    @app.get("/orders/<int:order_id>/invoice")
    def get_invoice(order_id: int) -> Response:
        """The one call that asks another service synchronously, with a deadline.
        ---
        get:
          summary: The order's invoice, asked from billing synchronously
          operationId: getInvoice
          description: Role `customer` (own orders; another's is 404) or `support` (any).
          security: [{bearer: []}]
          parameters: [OrderId]
          responses:
            "200":
              description: Billing's invoice.
              content: {application/json: {schema: InvoiceView}}
            "401": Unauthorized
            "403": Forbidden
            "404":
              description: No such order, or billing has no invoice for it yet.
              content: {application/json: {schema: Error}}
            "502":
              description: Billing answered with an error.
              content: {application/json: {schema: Error}}
            "503": DatabaseUnavailable
            "504":
              description: Billing did not answer within INVOICE_TIMEOUT (2 s).
              content: {application/json: {schema: Error}}
        """
        caller = _reader(services)
        # 404 for an unknown order, and for another customer's
        handlers.get_order(_order_id(order_id), services.uow(), caller)
        billing = services.billing
        try:
            invoice = billing.invoice(order_id)
        except InvoiceNotFound as exc:
            raise ApiError(
                404, f"billing has no invoice for order {order_id} (yet)", detail=str(exc)
            ) from None
        except BillingTimeout:
            raise ApiError(
                504,
                f"billing did not answer within {billing.timeout:g} s",
                timeout_seconds=billing.timeout,
                order_id=order_id,
            ) from None
        except BillingUnavailable as exc:
            raise ApiError(
                503, "the message broker is unreachable: billing cannot be asked", detail=str(exc)
            ) from None
        except BillingError as exc:
            raise ApiError(502, "billing answered with an error", detail=str(exc)) from None
        invoice["amount"] = str(views.money(Decimal(str(invoice["amount"]))))
        return json_response(invoice)


def _operations_routes(app: Flask, services: bootstrap.Services) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        """Liveness: no I/O, so a slow dependency never gets the process restarted.
        ---
        get:
          summary: The process is up (no I/O)
          operationId: healthz
          responses: {"200": {description: Up.}}
        """
        return json_response({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        """Readiness: the database and the broker answer (parked events are reported, not fatal).
        ---
        get:
          summary: The database and the broker answer
          operationId: readyz
          responses:
            "200": {description: Ready., content: {application/json: {schema: Readiness}}}
            "503":
              description: "Not ready: which check failed."
              content: {application/json: {schema: Readiness}}
        """
        checks = {"database": _check_database(services), "broker": _check_broker(services)}
        ready = all(result == "ok" for result in checks.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
        if checks["database"] == "ok":  # parked events need an operator, not a restart
            with contextlib.suppress(Exception):  # the database went away since: said next time
                body["outbox"] = {"parked": services.outbox_store().count_parked()}
        return json_response(body, 200 if ready else 503)

    @app.get("/openapi.json")
    def openapi_document() -> Response:
        """Built on first use from the route table, then kept (the routes never change).
        ---
        get:
          summary: This document
          operationId: openapi
          responses: {"200": {description: OpenAPI 3.1.}}
        """
        if "openapi" not in app.extensions:
            app.extensions["openapi"] = json.dumps(openapi.document(app))
        return json_response(app.extensions["openapi"])


def _error_handlers(app: Flask, services: bootstrap.Services) -> None:
    @app.errorhandler(ApiError)
    def on_api_error(exc: ApiError) -> Response:
        body = error_body(exc.status, exc.message, **exc.extra)
        return json_response(body, exc.status, exc.headers)

    @app.errorhandler(OrderNotFound)
    def on_not_found(exc: OrderNotFound) -> Response:
        return json_response(error_body(404, str(exc), order_id=exc.order_id), 404)

    @app.errorhandler(InvalidTransition)
    def on_conflict(exc: InvalidTransition) -> Response:
        return json_response(
            error_body(
                409,
                str(exc),
                order_id=exc.order_id,
                order_status=exc.status.value,
                action=exc.action,
                reason=exc.reason,
            ),
            409,
        )

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        extra: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            allowed = sorted(exc.valid_methods)
            extra["allowed_methods"], headers["Allow"] = allowed, ", ".join(allowed)
        if isinstance(exc, RequestEntityTooLarge):
            extra["limit_bytes"] = services.settings.max_content_length
            # The unread body is still on the wire: a kept-alive connection would parse it as
            # the next request. Close it so the client's next request gets a fresh one.
            headers["Connection"] = "close"
        message = exc.description if status != 404 else f"no such resource: {request.path}"
        return json_response(error_body(status, message or exc.name, **extra), status, headers)

    @app.errorhandler(DBAPIError)
    def on_database_error(exc: DBAPIError) -> Response:
        if not is_unreachable(exc):
            return on_unexpected(exc)
        # Nothing was written (the transaction never committed): the same request, with the
        # same Idempotency-Key, is safe to send again.
        log.warning("%s %s: database unavailable: %s", request.method, request.path, exc.orig)
        detail = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else repr(exc.orig)
        return json_response(
            error_body(
                503,
                "the database is unavailable: the request was not completed; retry later",
                detail=detail,
                retry_after_seconds=DATABASE_RETRY_AFTER_S,
            ),
            503,
            {"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    @app.errorhandler(Exception)
    def on_unexpected(exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.path)
        return json_response(error_body(500, "internal error; the request was not completed"), 500)


def create_wsgi_app(verifier: Verifier | None = None) -> Flask:
    """gunicorn's factory (``order_service.entrypoints.flask_app:create_wsgi_app()``).

    ``verifier`` replaces the token verifier the settings build; only code passes one (the
    benchmark's edge without verification), so it gets every other part of the edge as served.
    """
    bootstrap.configure_logging("edge")
    app = create_app(bootstrap.bootstrap(run_migrations=False, verifier=verifier))
    return tracing.instrument_flask(app)


# --- identity ----------------------------------------------------------------------------------


def _authenticate(services: bootstrap.Services) -> Caller:
    """The caller named by the request's bearer token, or a 401 saying what is wrong with it."""
    header = request.headers.get("Authorization")
    if not header:
        raise unauthorized(
            "authentication required: send Authorization: Bearer <token>", error=None
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized(f"the Authorization scheme must be Bearer, got {scheme[:20]!r}", None)
    if not token.strip():
        raise unauthorized("the Authorization header has no token after Bearer")
    if services.verifier is None:  # pragma: no cover - create_app refuses to start without one
        raise ApiError(503, "no token issuer configured")
    try:
        return services.verifier.verify(token.strip())
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from None
    except IssuerUnavailable as exc:
        log.warning("token not checked: %s", exc)
        raise ApiError(
            503, "the token issuer's keys are unavailable; try again", detail=str(exc)
        ) from None


def _require(services: bootstrap.Services, role: Role) -> Caller:
    caller = _authenticate(services)
    if not caller.has(role):
        raise forbidden(f"this needs the {role.value!r} role", required_role=role.value)
    return caller


def _reader(services: bootstrap.Services) -> Caller:
    caller = _authenticate(services)
    if not caller.may_read_orders:
        raise forbidden(
            "reading orders needs the 'customer' or 'support' role",
            required_role=[Role.CUSTOMER.value, Role.SUPPORT.value],
        )
    return caller


def _for_caller(data: Any, caller: Caller) -> Any:
    """The body, with the caller's subject as ``customer_id`` when it is left out."""
    if isinstance(data, dict) and "customer_id" not in data:
        return {"customer_id": caller.subject, **data}
    return data


# --- request helpers ----------------------------------------------------------------------------


def _json_body(limit: int) -> Any:
    if request.mimetype != JSON:
        raise ApiError(415, f"Content-Type must be {JSON}, got {request.mimetype or 'none'}")
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(
            f"the body is {request.content_length} bytes; the limit is {limit}"
        )
    raw = request.get_data(cache=False)
    if request.content_length is None and len(raw) >= limit:
        # chunked: werkzeug stops reading at the limit (it does not raise on read-all)
        raise RequestEntityTooLarge(f"the body is over the limit of {limit} bytes")
    try:
        return json.loads(raw, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            errors=[{"path": "$", "message": f"malformed JSON: {exc.msg} (char {exc.pos})"}],
        ) from None
    except _BadJson as exc:
        raise ApiError(
            400, f"the body is not valid JSON: {exc}", errors=[{"path": "$", "message": str(exc)}]
        ) from None


class _BadJson(ValueError):  # noqa: N818
    pass


def _refuse_constant(name: str) -> NoReturn:
    raise _BadJson(f"{name} is not a JSON number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _BadJson(f"duplicate key {key!r} in an object")
        result[key] = value
    return result


def _fingerprint(subject: str, data: Any) -> str:
    """The request's hash, the caller's subject in it: a key never replays another's order."""
    canonical = json.dumps(
        {"subject": subject, "body": data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _header(name: str) -> str | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not _HEADER_VALUE.match(value):
        raise ApiError(
            400,
            f"{name} must be 1 to 200 visible ASCII characters",
            errors=[{"path": f"headers.{name}", "message": "1 to 200 visible ASCII characters"}],
        )
    return value


def _correlation_id() -> str | None:
    return _header("X-Correlation-ID")


def _order_id(order_id: int) -> int:
    if order_id > MAX_ORDER_ID:
        raise OrderNotFound(order_id)
    return order_id


def _check_database(services: bootstrap.Services) -> str:
    started = time.monotonic()
    try:
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return f"failed after {time.monotonic() - started:.1f} s: {exc}"
    return "ok"


def _check_broker(services: bootstrap.Services) -> str:
    started = time.monotonic()
    try:
        bootstrap.check_broker(services.celery_app, services.settings.readiness_timeout)
    except Exception as exc:
        return f"failed after {time.monotonic() - started:.1f} s: {exc}"
    return "ok"
