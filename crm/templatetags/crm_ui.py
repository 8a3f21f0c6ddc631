"""Small display helpers for the CRM templates."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import dateformat, timezone

register = template.Library()

# url name prefix -> the main navigation item it belongs to
_SECTIONS = {
    "dashboard": "dashboard",
    "account": "accounts",
    "contact": "contacts",
    "deal": "deals",
    "renewal": "renewals",
    "task": "tasks",
    "api_token": "api_tokens",
    "user_": "user_list",
    "own_settings": "own_settings",
}


@register.filter
def nav_section(url_name: str | None) -> str:
    """The navigation section of a page, from its url name (``account_detail`` -> accounts)."""
    for prefix, section in _SECTIONS.items():
        if url_name and url_name.startswith(prefix):
            return section
    return ""


@register.filter
def when(value, fmt: str = "M j, H:i") -> str:
    """A moment in the reader's zone (activated per request from their settings) with the zone
    named: ``Dec 6, 09:00 CET``. Every page prints times through it, so they all agree."""
    if not value:
        return ""
    local = timezone.localtime(value)
    return f"{dateformat.format(local, fmt)} {local.tzname()}"


@register.filter
def money(value, places=None) -> str:
    """12000 -> "12,000"; 12000.5 -> "12,000.50"; with ``money:0`` whole units; None -> "—"."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    if places is not None:
        amount = amount.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP)
    if amount == amount.to_integral_value():
        return intcomma(int(amount))
    return intcomma(f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}")


@register.filter
def days_until(day: date | None) -> int | None:
    if day is None:
        return None
    return (day - timezone.localdate()).days


@register.filter
def percent(value) -> str:
    if value is None:
        return "—"
    return f"{Decimal(value) * 100:.0f}%"


@register.filter
def can_manage_program(user) -> bool:
    """Whether the user may change plays and program settings (managers and admins)."""
    from crm.roles import can_manage_program as allowed

    return allowed(user)
