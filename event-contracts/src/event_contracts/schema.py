"""JSON Schema (2020-12) of the contract messages, derived from their attrs classes.

The AsyncAPI document and order-service's OpenAPI document both use it, so a field's rules are
written once (in the message class and its structure hook) and described the same everywhere.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from event_contracts.messages.order import MAX_LINES, CustomerId, OrderLines
from event_contracts.serialization import (
    _MONEY_PATTERN,
    ISO_4217_CODES,
    MAX_QUANTITY,
    CurrencyCode,
    LegacyPrice,
    Money,
    Quantity,
)

_SCALARS: dict[Any, dict[str, Any]] = {
    int: {"type": "integer"},
    str: {"type": "string"},
    bool: {"type": "boolean"},
    UUID: {"type": "string", "format": "uuid"},
    datetime: {"type": "string", "format": "date-time"},
    Quantity: {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY},
    Money: {
        "type": "string",
        "pattern": _MONEY_PATTERN.pattern,
        "description": "A non-negative decimal amount written as a string: never a float.",
    },
    LegacyPrice: {"type": "number", "minimum": 0},
    CurrencyCode: {
        "type": "string",
        "enum": sorted(ISO_4217_CODES),
        "description": "ISO 4217 alphabetic code.",
    },
    CustomerId: {"type": "string", "minLength": 1, "maxLength": 64},
}


def schema_of(type_: Any, components: dict[str, Any]) -> dict[str, Any]:
    """The schema of ``type_``; attrs classes go to ``components`` and are referenced."""
    if type_ in _SCALARS:
        return dict(_SCALARS[type_])
    if type_ is OrderLines:
        from event_contracts.messages.order import OrderLine

        return {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_LINES,
            "items": schema_of(OrderLine, components),
        }
    origin = typing.get_origin(type_)
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(type_)
        return {"type": "array", "items": schema_of(item, components)}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(type_) if a is not type(None)]
        inner = schema_of(options[0], components)
        return (
            {"anyOf": [inner, {"type": "null"}]}
            if len(options) == 1
            else {"anyOf": [schema_of(o, components) for o in options]}
        )
    if attrs.has(type_):
        name = type_.__name__
        if name not in components:
            components[name] = {}  # placeholder: breaks cycles
            hints = typing.get_type_hints(type_)
            fields = attrs.fields(type_)
            components[name] = {
                "type": "object",
                "title": name,
                "description": (type_.__doc__ or "").strip().split("\n\n")[0],
                "properties": {f.name: schema_of(hints[f.name], components) for f in fields},
                "required": [f.name for f in fields if f.default is attrs.NOTHING],
            }
        return {"$ref": f"#/components/schemas/{name}"}
    raise TypeError(f"no JSON Schema for {type_!r}")
