"""Money is a :class:`~decimal.Decimal`, never a float, with at most four decimals."""

from __future__ import annotations

from decimal import Decimal

SCALE = 4
_CENTS = Decimal("0.01")
_QUANTUM = Decimal(1).scaleb(-SCALE)


def normalized(amount: Decimal) -> Decimal:
    """At least two decimals, at most four: ``9.0000`` → ``9.00``, ``0.1250`` → ``0.125``.

    One written form whatever produced the number (a sum, a ``numeric(18,4)`` column, a
    client's ``"4.5"``), so an order reads the same in responses and in every event about it.
    """
    exact = amount.quantize(_QUANTUM)
    cents = exact.quantize(_CENTS)
    return cents if cents == exact else exact.normalize()
