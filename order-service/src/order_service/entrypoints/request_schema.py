"""The body of ``POST /orders``: structured with the platform's converter, every problem reported
with its JSONPath at once (``$.lines[0].quantity``), unknown fields included.

The field types are the contracts' own (``CustomerId``, ``CurrencyCode``, ``OrderLines`` of
``OrderLine`` with ``Quantity`` and ``Money``), so the edge refuses exactly what the
``order.v2.submit`` message would, with the same words; a JSON float price is refused (money is a
decimal string). On top of the contract the edge checks what only it can: unknown fields,
duplicate line ids, and limits of its database columns.
"""

from __future__ import annotations

import functools
import json
import typing
import unicodedata
from decimal import Decimal
from typing import Any

import attrs
from event_contracts import ContractError, FieldError, structure
from event_contracts.messages.order import CustomerId, OrderLines
from event_contracts.serialization import CurrencyCode

from order_service.service_layer.commands import NewLine

MAX_LINE_ID = 2**63 - 1
MAX_TOTAL = Decimal("999999999999.9999")
"""The largest amount a ``Money`` field (and numeric(18,4)) holds."""


@attrs.frozen(kw_only=True)
class OrderRequest:
    """A new order as a client submits it (no other fields are accepted)."""

    customer_id: CustomerId
    currency: CurrencyCode
    lines: OrderLines


def _json_type(value: Any) -> str:
    names = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _member(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"


def _item_class(hint: Any) -> Any:
    """The attrs class a field holds (directly or as items of a tuple), if any."""
    while hasattr(hint, "__supertype__"):  # NewType
        hint = hint.__supertype__
    if typing.get_origin(hint) is tuple:
        hint = typing.get_args(hint)[0]
    return hint if attrs.has(hint) else None


@functools.cache
def _fields(cls: Any) -> tuple[frozenset[str], dict[str, Any]]:
    return frozenset(f.name for f in attrs.fields(cls)), typing.get_type_hints(cls)


def shape_errors(data: Any, cls: Any, path: str = "$") -> list[FieldError]:
    """Objects where objects belong, and no field ``cls`` does not declare (recursively)."""
    if not isinstance(data, dict):
        return [FieldError(path, f"expected an object, got {_json_type(data)}")]
    declared, hints = _fields(cls)
    allowed = ", ".join(sorted(declared))
    errors = [
        FieldError(_member(path, key), f"unknown field (allowed: {allowed})")
        for key in data
        if key not in declared
    ]
    for name in declared & data.keys():
        inner = _item_class(hints[name])
        value = data[name]
        if inner is None:
            continue
        if isinstance(value, list):
            for index, item in enumerate(value):
                errors += shape_errors(item, inner, f"{path}.{name}[{index}]")
        elif typing.get_origin(hints[name]) is None and not hasattr(hints[name], "__supertype__"):
            errors += shape_errors(value, inner, f"{path}.{name}")
    return errors


def _below(path: str, parents: set[str]) -> bool:
    return any(path.startswith(parent + ".") or path.startswith(parent + "[") for parent in parents)


def _edge_errors(request: OrderRequest) -> list[FieldError]:
    """What the contract allows but this service's storage or sense does not."""
    errors: list[FieldError] = []
    try:
        request.customer_id.encode("utf-8")
    except UnicodeEncodeError:
        errors.append(FieldError("$.customer_id", "is not valid Unicode text"))
    else:
        if any(unicodedata.category(char) == "Cc" for char in request.customer_id):
            errors.append(FieldError("$.customer_id", "must not contain control characters"))
    seen: dict[int, int] = {}
    for index, line in enumerate(request.lines):
        if not 1 <= line.id <= MAX_LINE_ID:
            errors.append(
                FieldError(
                    f"$.lines[{index}].id", f"must be between 1 and {MAX_LINE_ID}, got {line.id}"
                )
            )
        elif line.id in seen:
            first = seen[line.id]
            errors.append(
                FieldError(
                    f"$.lines[{index}].id", f"duplicate line id {line.id} (also $.lines[{first}])"
                )
            )
        seen.setdefault(line.id, index)
    total = sum((line.total for line in request.lines), start=Decimal(0))
    if total > MAX_TOTAL:
        errors.append(FieldError("$.lines", f"the order total {total} exceeds {MAX_TOTAL}"))
    return errors


def parse_order_request(data: Any) -> OrderRequest:
    """An :class:`OrderRequest` from parsed JSON, or :class:`ContractError` with every problem."""
    shape = shape_errors(data, OrderRequest)
    not_objects = {e.path for e in shape if e.message.startswith("expected an object")}
    if "$" in not_objects:
        raise ContractError("OrderRequest", tuple(shape))
    try:
        request = structure(data, OrderRequest)
    except ContractError as exc:
        found = [
            e for e in exc.errors if e.path not in not_objects and not _below(e.path, not_objects)
        ]
        raise ContractError("OrderRequest", (*found, *shape)) from exc
    errors = shape + _edge_errors(request)
    if errors:
        raise ContractError("OrderRequest", tuple(errors))
    return request


def new_lines(request: OrderRequest) -> tuple[NewLine, ...]:
    return tuple(NewLine(line.id, line.quantity, line.unit_price) for line in request.lines)
