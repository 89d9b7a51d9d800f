"""JSON-safe (de)serialization of contract messages with cattrs.

One converter for every message: it turns attrs instances into plain JSON types (money as decimal
strings, ids as UUID strings, instants as ISO 8601 with an offset) and back, and refuses anything
it would otherwise coerce silently (``"2"`` for an int, a float for money). Every problem in a
payload is reported at once, each with the path of the field (``$.lines[0].quantity``), through
:class:`ContractError`, so an HTTP edge can answer 422 and a consumer can dead-letter with a
reason a human can act on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NewType, TypeVar
from uuid import UUID

import attrs
import cattrs
from cattrs.v import format_exception

T = TypeVar("T")

Quantity = NewType("Quantity", int)
"""A count of items: an integer of at least 1."""
Money = NewType("Money", Decimal)
"""An amount of money: a non-negative decimal, written on the wire as a string (``"4.50"``)."""
LegacyPrice = NewType("LegacyPrice", Decimal)
"""A v1 price: a JSON number as the seed article sent it, kept exact as a Decimal."""
CurrencyCode = NewType("CurrencyCode", str)
"""An active ISO 4217 alphabetic currency code (``EUR``)."""

MAX_QUANTITY = 10_000
_MONEY_PATTERN = re.compile(r"^\d{1,12}(\.\d{1,4})?$")

# Active ISO 4217 alphabetic codes (funds and precious metals left out on purpose).
ISO_4217_CODES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG
    """.split()  # noqa: SIM905 - a table reads better than 180 quoted strings
)


@attrs.frozen
class FieldError:
    """One problem in a payload: where (a JSONPath such as ``$.lines[0].price``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidField(ValueError):
    """Raised by attrs validators so the error names the field, not only its object."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def length_between(low: int, high: int, what: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator: ``low <= len(value) <= high``, reported at the field's path."""

    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not low <= len(value) <= high:
            raise InvalidField(attribute.name, f"needs {low} to {high} {what}, got {len(value)}")

    return check


class ContractError(ValueError):
    """A payload does not fit its contract; ``errors`` names every bad field path."""

    def __init__(self, message_type: str, errors: tuple[FieldError, ...]) -> None:
        self.message_type = message_type
        self.errors = errors
        super().__init__(f"invalid {message_type}: " + "; ".join(str(e) for e in errors))

    def as_dict(self) -> dict[str, Any]:
        """The shape HTTP edges return and dead-letter headers carry."""
        return {
            "type": self.message_type,
            "errors": [{"path": e.path, "message": e.message} for e in self.errors],
        }


# --- structure hooks: each refuses what it would otherwise coerce ----------------------------


def _strict_int(value: Any, _: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {_json_type(value)}")
    return value


def _strict_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {_json_type(value)}")
    return value


def _quantity(value: Any, _: Any) -> Quantity:
    number = _strict_int(value, None)
    if not 1 <= number <= MAX_QUANTITY:
        raise ValueError(f"must be between 1 and {MAX_QUANTITY}, got {number}")
    return Quantity(number)


def _money(value: Any, _: Any) -> Money:
    if not isinstance(value, str):
        raise TypeError(f'expected a decimal string such as "4.50", got {_json_type(value)}')
    if not _MONEY_PATTERN.match(value):
        raise ValueError(f'expected a non-negative decimal string such as "4.50", got {value!r}')
    return Money(Decimal(value))


def _legacy_price(value: Any, _: Any) -> LegacyPrice:
    if type(value) not in (int, float):
        raise TypeError(f"expected a number, got {_json_type(value)}")
    try:
        # repr() of a float is the shortest text that reads back as it: the number as it was sent.
        price = Decimal(repr(value))
    except InvalidOperation as exc:  # pragma: no cover - json never yields these
        raise ValueError(f"not a number: {value!r}") from exc
    if not price.is_finite() or price < 0:
        raise ValueError(f"must be a finite, non-negative number, got {value!r}")
    return LegacyPrice(price)


def _currency(value: Any, _: Any) -> CurrencyCode:
    code = _strict_str(value, None)
    if code not in ISO_4217_CODES:
        raise ValueError(f"not an ISO 4217 currency code: {code!r}")
    return CurrencyCode(code)


def _uuid(value: Any, _: Any) -> UUID:
    text = _strict_str(value, None)
    try:
        return UUID(text)
    except ValueError:
        raise ValueError(f"not a UUID: {text!r}") from None


def _instant(value: Any, _: Any) -> datetime:
    text = _strict_str(value, None)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"needs a UTC offset (e.g. 'Z' or '+00:00'): {text!r}")
    return moment


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


def _build_converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True)
    hooks: Mapping[Any, Callable[[Any, Any], Any]] = {
        int: _strict_int,
        str: _strict_str,
        Quantity: _quantity,
        Money: _money,
        LegacyPrice: _legacy_price,
        CurrencyCode: _currency,
        UUID: _uuid,
        datetime: _instant,
    }
    for type_, hook in hooks.items():
        converter.register_structure_hook(type_, hook)
    converter.register_unstructure_hook(Decimal, str)
    converter.register_unstructure_hook(UUID, str)
    converter.register_unstructure_hook(datetime, lambda moment: moment.isoformat())
    return converter


converter = _build_converter()


_FIELD_MARK = "\x00"


def _format(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, InvalidField):
        return f"{exc.field}{_FIELD_MARK}{exc}"
    if isinstance(exc, (TypeError, ValueError)) and not isinstance(exc, cattrs.BaseValidationError):
        return str(exc)
    return format_exception(exc, type_)


def _field_errors(exc: BaseException) -> tuple[FieldError, ...]:
    errors = []
    for line in cattrs.transform_error(exc, format_exception=_format):
        message, _, path = line.rpartition(" @ ")
        if _FIELD_MARK in message:
            field, _, message = message.partition(_FIELD_MARK)
            path = f"{path}.{field}"
        errors.append(FieldError(path=path or "$", message=message or line))
    return tuple(errors)


def structure(data: Any, cls: type[T]) -> T:
    """Build ``cls`` from JSON data, or raise :class:`ContractError` naming every bad field."""
    if not isinstance(data, dict):
        raise ContractError(cls.__name__, (FieldError("$", f"expected an object, got {_json_type(data)}"),))
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        raise ContractError(cls.__name__, _field_errors(exc)) from exc


def unstructure(message: Any) -> dict[str, Any]:
    """Turn a message into plain JSON types (money as strings: never a float)."""
    data = converter.unstructure(message)
    assert isinstance(data, dict)
    return data


def utc_now() -> datetime:
    """The current instant, timezone-aware, as every message records it."""
    return datetime.now(UTC)
