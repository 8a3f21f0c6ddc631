"""Small helpers every metric shares: JSON-ready numbers and safe ratios."""

from decimal import ROUND_HALF_UP, Decimal

from django.db.models import DecimalField, Sum, Value
from django.db.models.functions import Coalesce

CENT = Decimal("0.01")
ZERO = Decimal("0")


def money(value) -> str | None:
    """Money for JSON: a string of a Decimal rounded to cents (None stays None)."""
    if value is None:
        return None
    # + 0 turns a negative zero ("-0.00") into 0.00.
    return str(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP) + 0)


def rate(value, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def ratio(numerator, denominator) -> Decimal | None:
    """numerator / denominator as a Decimal, or None when the denominator is zero or missing."""
    if denominator in (None, 0) or numerator is None:
        return None
    return Decimal(numerator) / Decimal(denominator)


def dec(value) -> Decimal:
    return ZERO if value is None else Decimal(value)


def sum_money(expression, **extra):
    """SUM that answers 0 (not NULL) over no rows, typed as money."""
    field = DecimalField(max_digits=20, decimal_places=4)
    return Coalesce(Sum(expression, output_field=field, **extra), Value(ZERO), output_field=field)
