"""The edge's HTTP bodies as pydantic models: ``POST /orders`` is validated by them, and
``/openapi.json`` takes its schemas from them, so the document cannot drift from the checks.

Strict mode: nothing is coerced (``"2"`` is not a quantity, ``true`` is not an integer), money is a
decimal string (a JSON number is refused, never read as a float), unknown fields are errors, and
every problem is reported at once with its JSONPath (``$.lines[0].quantity``). The limits are the
contract's own (``order.v2.submit``: quantity, lines per order, the ISO 4217 list, the money
pattern), so the edge never accepts an order the event could not carry.
"""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import Decimal
from typing import Annotated, Any

from event_contracts.messages.order import MAX_LINES
from event_contracts.schema import schema_of
from event_contracts.serialization import ISO_4217_CODES, MAX_QUANTITY, Money
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from order_service.service_layer.commands import NewLine

MAX_LINE_ID = 2**63 - 1
MAX_TOTAL = Decimal("999999999999.9999")
"""The largest amount a ``Money`` field (and numeric(18,4)) holds."""
_MONEY_SCHEMA = schema_of(Money, {})
_MONEY_PATTERN = re.compile(_MONEY_SCHEMA["pattern"])


class OrderRequestError(Exception):
    """A body that is not a valid order: ``errors`` lists ``{"path", "message"}`` per problem."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} invalid field(s)")


_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _customer_text(value: str) -> str:
    """Storable text: no lone surrogates (``"\\ud800"`` in JSON), no control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("unicode", "is not valid Unicode text") from None
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise PydanticCustomError("control_character", "must not contain control characters")
    return value


def _currency(code: str) -> str:
    if code not in ISO_4217_CODES:
        raise PydanticCustomError(
            "currency", "not an ISO 4217 currency code: {code}", {"code": code}
        )
    return code


def _money(value: Any) -> Decimal:
    """A decimal string only: a JSON number would have gone through a float."""
    if not isinstance(value, str):
        raise PydanticCustomError(
            "money_type",
            'expected a decimal string such as "4.50", got {kind}',
            {"kind": json_type(value)},
        )
    if not _MONEY_PATTERN.fullmatch(value):
        raise PydanticCustomError(
            "money_format",
            'expected a non-negative decimal string such as "4.50", got {text}',
            {"text": repr(value)},
        )
    return Decimal(value)


CustomerId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_customer_text)]
Currency = Annotated[
    str,
    AfterValidator(_currency),
    Field(json_schema_extra={"enum": sorted(ISO_4217_CODES), "description": "ISO 4217 code."}),
]
MoneyText = Annotated[Decimal, PlainValidator(_money), WithJsonSchema(_MONEY_SCHEMA)]


class OrderLine(BaseModel):
    """One line of a new order."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: Annotated[int, Field(ge=1, le=MAX_LINE_ID)]
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    unit_price: MoneyText


class OrderRequest(BaseModel):
    """A new order as a client submits it (no other fields are accepted)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    customer_id: CustomerId = Field(
        description="The token's subject; left out, the subject is used."
    )
    currency: Currency
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=MAX_LINES)]

    def new_lines(self) -> tuple[NewLine, ...]:
        return tuple(NewLine(line.id, line.quantity, line.unit_price) for line in self.lines)


class FieldError(BaseModel):
    """One field's problem."""

    path: str = Field(
        examples=["$.lines[0].quantity"],
        description="JSONPath of the bad field (`headers.<Name>` for a header).",
    )
    message: str


class Error(BaseModel):
    """Every error answer. `errors` lists field problems by JSONPath."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="What went wrong, for a human.")
    status: int
    errors: list[FieldError] | None = None


class Outbox(BaseModel):
    """Present when the database answered. `parked`: events the relay gave up on (kept;
    `order-service-outbox requeue`); readiness ignores it."""

    parked: Annotated[int, Field(ge=0)]


class Readiness(BaseModel):
    """What ``/readyz`` checked: ``ok`` or why not, per dependency."""

    status: Annotated[str, Field(json_schema_extra={"enum": ["ready", "not ready"]})]
    checks: dict[str, str] = Field(examples=[{"database": "ok", "broker": "ok"}])
    outbox: Outbox | None = None


def _path(location: tuple[int | str, ...]) -> str:
    path = "$"
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if part.isidentifier() else f"[{json.dumps(part)}]"
    return path


_EXPECTED = {
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "list_type": "an array",
    "string_type": "a string",
    "int_type": "an integer",
}
"""Type errors in JSON's words (pydantic names Python's types and the model's class)."""


def _message(error: ErrorDetails) -> str:
    if error["type"] in _EXPECTED:
        return f"expected {_EXPECTED[error['type']]}, got {json_type(error['input'])}"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required"
    return error["msg"]


def _edge_errors(order: OrderRequest) -> list[dict[str, str]]:
    """What each field allows but the order as a whole does not."""
    errors: list[dict[str, str]] = []
    seen: dict[int, int] = {}
    for index, line in enumerate(order.lines):
        if line.id in seen:
            errors.append(
                {
                    "path": f"$.lines[{index}].id",
                    "message": f"duplicate line id {line.id} (also $.lines[{seen[line.id]}])",
                }
            )
        seen.setdefault(line.id, index)
    total = sum((line.unit_price * line.quantity for line in order.lines), start=Decimal(0))
    if total > MAX_TOTAL:
        errors.append(
            {"path": "$.lines", "message": f"the order total {total} exceeds {MAX_TOTAL}"}
        )
    return errors


def parse_order_request(data: Any) -> OrderRequest:
    """An :class:`OrderRequest` from parsed JSON, or :class:`OrderRequestError` naming every
    problem."""
    try:
        order = OrderRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise OrderRequestError(
            [{"path": _path(e["loc"]), "message": _message(e)} for e in errors]
        ) from None
    problems = _edge_errors(order)
    if problems:
        raise OrderRequestError(problems)
    return order
