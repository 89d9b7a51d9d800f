"""``/openapi.json``: OpenAPI 3.1 of the edge, assembled by apispec from the app itself.

Paths come from the Flask route table (apispec's Flask plugin), each operation from the YAML
after ``---`` in its view's docstring, and the schemas from the classes that validate or produce
the bodies: the pydantic models in ``schemas.py``, and the attrs views (``OrderView``,
billing's ``InvoiceView``) through event-contracts' ``schema_of``. A route without a documented
operation, or a reference to a component that does not exist, fails the unit tests.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from event_contracts import InvoiceView
from event_contracts.schema import schema_of
from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from order_service import __version__
from order_service.domain.model import Status
from order_service.entrypoints import schemas
from order_service.service_layer.views import OrderView

REF = "#/components/schemas/{model}"
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "An access token (JWT) from the configured OpenID Connect issuer "
    "(`OIDC_ISSUER`), for the audience `OIDC_AUDIENCE`. Roles (`realm_access.roles`): "
    "`customer` places and reads its own orders; `support` reads any order and charges back.",
}
RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": "Error"}},
        **extra,
    }


RESPONSES = {
    "NotFound": _error("Unknown route or order (always JSON)."),
    "MethodNotAllowed": _error("Wrong method for the route (always JSON)."),
    "Unauthorized": _error(
        "No token, or one that is malformed, expired, not yet valid, badly signed, from another "
        'issuer or for another audience (`WWW-Authenticate: Bearer error="invalid_token"`).'
    ),
    "Forbidden": _error('The token\'s roles do not allow this (`error="insufficient_scope"`).'),
    "DatabaseUnavailable": _error(
        "The database (or, for the invoice, the broker) is unreachable: nothing was done; retry "
        "after `Retry-After` seconds (with the same Idempotency-Key, if any). Also the answer "
        "when the issuer's keys cannot be fetched to check the token (then without Retry-After).",
        headers={"Retry-After": RETRY_AFTER},
    ),
}
PARAMETERS: dict[str, dict[str, Any]] = {
    "OrderId": {
        "name": "order_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Retries with the same key return the first response and publish "
        "nothing new; the same key with another body: 422.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    },
    "CorrelationId": {
        "name": "X-Correlation-ID",
        "in": "header",
        "required": False,
        "description": "Carried by the published event (`correlation-id`).",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}


def _schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        schemas.OrderRequest,
        schemas.Error,
        schemas.FieldError,
        schemas.Readiness,
    ]
    _, top = models_json_schema([(model, "validation") for model in models], ref_template=REF)
    found: dict[str, Any] = top["$defs"]
    found["OrderRequest"]["required"].remove("customer_id")  # the token's subject by default
    schema_of(OrderView, found)
    schema_of(InvoiceView, found)
    view = found["OrderView"]["properties"]
    view["status"]["enum"] = [status.value for status in Status]
    view["shipment_outcome"] = {
        "anyOf": [{"type": "string", "enum": ["cancelled", "returned"]}, {"type": "null"}]
    }
    return found


def document(app: Flask) -> dict[str, Any]:
    """The document of ``app``'s routes (built once per process: see ``flask_app``)."""
    spec = APISpec(
        title="order-service",
        version=__version__,
        openapi_version="3.1.0",
        info={
            "description": "The shop platform's HTTP edge: it owns orders. Orders and "
            "chargebacks are written with their events in one transaction (the outbox); "
            "billing and logistic facts move the status."
        },
        plugins=[FlaskPlugin()],
    )
    for name, schema in _schemas().items():
        spec.components.schema(name, schema)
    for name, response in RESPONSES.items():
        spec.components.response(name, response)
    for name, parameter in PARAMETERS.items():
        spec.components.parameter(name, parameter["in"], parameter)
    spec.components.security_scheme("bearer", BEARER)
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            spec.path(view=app.view_functions[rule.endpoint], app=app)
    return spec.to_dict()
