"""``/openapi.json``: OpenAPI 3.1 of the edge, schemas derived from the classes that enforce them
(``event_contracts.schema.schema_of``), so the document cannot drift from the validation."""

from __future__ import annotations

import functools
from typing import Any

from event_contracts import InvoiceView
from event_contracts.schema import schema_of

from order_service import __version__
from order_service.domain.model import Status
from order_service.entrypoints.request_schema import OrderRequest
from order_service.service_layer.views import OrderView

ERROR = {
    "type": "object",
    "description": "Every error answer. `errors` lists field problems by JSONPath.",
    "required": ["error", "status"],
    "properties": {
        "error": {"type": "string", "description": "What went wrong, for a human."},
        "status": {"type": "integer"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
    },
    "additionalProperties": True,
}
FIELD_ERROR = {
    "type": "object",
    "required": ["path", "message"],
    "properties": {
        "path": {
            "type": "string",
            "examples": ["$.lines[0].quantity"],
            "description": "JSONPath of the bad field (`headers.<Name>` for a header).",
        },
        "message": {"type": "string"},
    },
}
EXAMPLE_ORDER = {
    "customer_id": "c-1",
    "currency": "EUR",
    "lines": [{"id": 1, "quantity": 2, "unit_price": "4.50"}],
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(description: str, ref: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        **extra,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _database_unavailable(also: str = "") -> dict[str, Any]:
    """503 while the database is unreachable: nothing was done; retry (same Idempotency-Key)."""
    response = _error(
        f"The database is unreachable{also}: nothing was done; retry after `Retry-After` "
        "seconds (with the same Idempotency-Key, if any)."
    )
    response["headers"] = {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer"},
        }
    }
    return response


ORDER_ID = {
    "name": "order_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "An access token (JWT) from the configured OpenID Connect issuer "
    "(`OIDC_ISSUER`), for the audience `OIDC_AUDIENCE`. Roles (`realm_access.roles`): "
    "`customer` places and reads its own orders; `support` reads any order and charges back.",
}
ACCESS = {
    "placeOrder": "Role `customer`; `customer_id` must be the token's subject (or left out).",
    "getOrder": "Role `customer` (own orders; another's is 404) or `support` (any).",
    "getInvoice": "Role `customer` (own orders; another's is 404) or `support` (any).",
    "chargeBack": "Role `support` only.",
}


def _secured(paths: dict[str, Any]) -> None:
    """Every ``/orders`` operation needs a bearer token: its security, 401/403, who may call."""
    for path, operations in paths.items():
        if not path.startswith("/orders"):
            continue
        for operation in operations.values():
            operation["security"] = [{"bearer": []}]
            operation["description"] = ACCESS[operation["operationId"]]
            operation["responses"]["401"] = _error(
                "No token, or one that is malformed, expired, not yet valid, badly signed, "
                "from another issuer or for another audience (`WWW-Authenticate: Bearer "
                'error="invalid_token"`).'
            )
            operation["responses"]["403"] = _error(
                'The token\'s roles do not allow this (`error="insufficient_scope"`).'
            )
            operation["responses"].setdefault(
                "503", _error("The issuer's keys could not be fetched to check the token.")
            )


@functools.cache
def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    schema_of(OrderRequest, schemas)
    schema_of(OrderView, schemas)
    schema_of(InvoiceView, schemas)
    for name in ("OrderRequest", "OrderLine"):
        schemas[name]["additionalProperties"] = False
    schemas["OrderView"]["properties"]["status"]["enum"] = [s.value for s in Status]
    schemas["OrderView"]["properties"]["shipment_outcome"] = {
        "anyOf": [{"type": "string", "enum": ["cancelled", "returned"]}, {"type": "null"}]
    }
    schemas["Error"], schemas["FieldError"] = ERROR, FIELD_ERROR
    request_schema = schemas["OrderRequest"]
    request_schema["required"] = [f for f in request_schema["required"] if f != "customer_id"]
    request_schema["properties"]["customer_id"]["description"] = (
        "The token's subject; left out, the subject is used."
    )
    schemas["Readiness"] = {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ready", "not ready"]},
            "checks": {
                "type": "object",
                "properties": {"database": {"type": "string"}, "broker": {"type": "string"}},
            },
            "outbox": {
                "type": "object",
                "description": "Present when the database answered. `parked`: events the "
                "relay gave up on (kept; `order-service-outbox requeue`); readiness ignores it.",
                "properties": {"parked": {"type": "integer", "minimum": 0}},
            },
        },
    }
    location = {"Location": {"description": "`/orders/{id}`", "schema": {"type": "string"}}}
    result: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "order-service",
            "version": __version__,
            "description": "The shop platform's HTTP edge: it owns orders. Orders and "
            "chargebacks are written with their events in one transaction (the "
            "outbox); billing and logistic facts move the status.",
        },
        "paths": {
            "/orders": {
                "post": {
                    "summary": "Submit an order",
                    "operationId": "placeOrder",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": (
                                "Retries with the same key return the first response and "
                                "publish nothing new; the same key with another body: 422."
                            ),
                            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                        },
                        {
                            "name": "X-Correlation-ID",
                            "in": "header",
                            "required": False,
                            "description": "Carried by the published event (`correlation-id`).",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/OrderRequest"},
                                "example": EXAMPLE_ORDER,
                            }
                        },
                    },
                    "responses": {
                        "201": _json(
                            "Accepted, in review; the submit event is in the outbox.",
                            "OrderView",
                            headers=location,
                        ),
                        "400": _error("Malformed JSON (or a bad header)."),
                        "413": _error("The body is over the size limit (64 KiB by default)."),
                        "415": _error("Content-Type is not application/json."),
                        "422": _error(
                            "The order is not valid: `errors` names each field path; or "
                            "the Idempotency-Key was used with another body."
                        ),
                        "503": _database_unavailable(),
                    },
                }
            },
            "/orders/{order_id}": {
                "get": {
                    "summary": "An order and its status",
                    "operationId": "getOrder",
                    "parameters": [ORDER_ID],
                    "responses": {
                        "200": _json("The order.", "OrderView"),
                        "404": _error("No such order."),
                        "503": _database_unavailable(),
                    },
                }
            },
            "/orders/{order_id}/chargeback": {
                "post": {
                    "summary": "Charge an order back (refund; cancel or return the shipment)",
                    "operationId": "chargeBack",
                    "parameters": [ORDER_ID],
                    "responses": {
                        "202": _json(
                            "Recorded; the chargeback event is in the outbox.", "OrderView"
                        ),
                        "404": _error("No such order."),
                        "409": _error(
                            "Not allowed in the order's status (already charged back, "
                            "refunded, cancelled or returned)."
                        ),
                        "503": _database_unavailable(),
                    },
                }
            },
            "/orders/{order_id}/invoice": {
                "get": {
                    "summary": "The order's invoice, asked from billing synchronously",
                    "operationId": "getInvoice",
                    "parameters": [ORDER_ID],
                    "responses": {
                        "200": _json("Billing's invoice.", "InvoiceView"),
                        "404": _error("No such order, or billing has no invoice for it yet."),
                        "502": _error("Billing answered with an error."),
                        "503": _database_unavailable(" (or the broker is)"),
                        "504": _error("Billing did not answer within INVOICE_TIMEOUT (2 s)."),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "The process is up (no I/O)",
                    "operationId": "healthz",
                    "responses": {"200": {"description": "Up."}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "The database and the broker answer",
                    "operationId": "readyz",
                    "responses": {
                        "200": _json("Ready.", "Readiness"),
                        "503": _json("Not ready: which check failed.", "Readiness"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {"200": {"description": "OpenAPI 3.1."}},
                }
            },
        },
        "components": {
            "schemas": schemas,
            "responses": {
                "NotFound": _error("Unknown route or order (always JSON)."),
                "MethodNotAllowed": _error("Wrong method for the route (always JSON)."),
            },
            "securitySchemes": {"bearer": BEARER},
        },
    }
    _secured(result["paths"])
    return result
