"""The HTTP edge (Flask, served by gunicorn): orders in, orders and invoices out. JSON only.

``POST /orders`` and ``POST /orders/{id}/chargeback`` only write the database (the order and
its event in the outbox, one transaction): they never wait for the broker, so the edge keeps
taking orders through a broker outage. ``GET /orders/{id}/invoice`` is the one call that asks
another service, synchronously, with a deadline.
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

from event_contracts import ContractError
from flask import Flask, Response, request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from order_service import bootstrap
from order_service.adapters.billing import (
    BillingError,
    BillingTimeout,
    BillingUnavailable,
    InvoiceNotFound,
)
from order_service.adapters.database import is_unreachable
from order_service.domain.errors import InvalidTransition, OrderNotFound
from order_service.entrypoints import openapi
from order_service.entrypoints.request_schema import new_lines, parse_order_request
from order_service.service_layer import commands, handlers, views

log = logging.getLogger(__name__)

JSON = "application/json"
MAX_ORDER_ID = 2**63 - 1
DATABASE_RETRY_AFTER_S = 5
"""``Retry-After`` of a 503 while the database is unreachable (a restart takes seconds)."""
_HEADER_VALUE = re.compile(r"^[\x21-\x7e]{1,200}$")


class ApiError(Exception):
    """An error answer: status, message, and optionally field errors or more detail."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        self.status, self.message, self.extra = status, message, extra
        super().__init__(message)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text_body = body if isinstance(body, str) else json.dumps(body)
    return Response(text_body, status=status, mimetype=JSON, headers=headers)


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": message, "status": status, **extra}


def create_app(services: bootstrap.Services | None = None) -> Flask:
    services = services or bootstrap.bootstrap()
    app = Flask("order_service")
    app.config["MAX_CONTENT_LENGTH"] = services.settings.max_content_length
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["order_service"] = services
    _orders_routes(app, services)
    _operations_routes(app, services)
    _error_handlers(app, services)
    return app


def _orders_routes(app: Flask, services: bootstrap.Services) -> None:
    @app.post("/orders")
    def place_order() -> Response:
        data = _json_body(services.settings.max_content_length)
        try:
            order = parse_order_request(data)
        except ContractError as exc:
            raise ApiError(422, "the order is not valid", errors=exc.as_dict()["errors"]) from None
        key = _header("Idempotency-Key")
        cmd = commands.PlaceOrder(
            customer_id=order.customer_id,
            currency=order.currency,
            lines=new_lines(order),
            idempotency_key=key,
            request_hash=_fingerprint(data) if key else "",
            correlation_id=_correlation_id(),
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
        return json_response(handlers.get_order(_order_id(order_id), services.uow()))

    @app.post("/orders/<int:order_id>/chargeback")
    def charge_back(order_id: int) -> Response:
        cmd = commands.ChargeBack(order_id=_order_id(order_id), correlation_id=_correlation_id())
        return json_response(handlers.charge_back(cmd, services.uow()), 202)

    @app.get("/orders/<int:order_id>/invoice")
    def get_invoice(order_id: int) -> Response:
        handlers.get_order(_order_id(order_id), services.uow())  # 404 for an unknown order
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
        return json_response({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        checks = {"database": _check_database(services), "broker": _check_broker(services)}
        ready = all(result == "ok" for result in checks.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
        if checks["database"] == "ok":  # parked events need an operator, not a restart
            with contextlib.suppress(Exception):  # the database went away since: said next time
                body["outbox"] = {"parked": services.outbox_store().count_parked()}
        return json_response(body, 200 if ready else 503)

    @app.get("/openapi.json")
    def openapi_document() -> Response:
        return json_response(openapi.document())


def _error_handlers(app: Flask, services: bootstrap.Services) -> None:
    @app.errorhandler(ApiError)
    def on_api_error(exc: ApiError) -> Response:
        return json_response(error_body(exc.status, exc.message, **exc.extra), exc.status)

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


def create_wsgi_app() -> Flask:
    """gunicorn's factory (``order_service.entrypoints.flask_app:create_wsgi_app()``)."""
    bootstrap.configure_logging()
    return create_app(bootstrap.bootstrap(run_migrations=False))


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


def _fingerprint(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
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
