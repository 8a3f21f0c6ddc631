"""Small display helpers for the CRM templates."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import timezone

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
}


@register.filter
def nav_section(url_name: str | None) -> str:
    """The navigation section of a page, from its url name (``account_detail`` -> accounts)."""
    for prefix, section in _SECTIONS.items():
        if url_name and url_name.startswith(prefix):
            return section
    return ""


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


@register.inclusion_tag("crm/partials/sort_header.html", takes_context=True)
def sort_header(context, spec, key: str):
    """A sortable column header: a link that sorts by ``key`` (again: the other way), keeping
    the list's filters; ``aria-sort`` says how the list is sorted now."""
    request = context["request"]
    current = request.GET.get("sort") or spec.default_sort
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("view", None)
    params["sort"] = f"-{key}" if current == key else key
    state = "ascending" if current == key else "descending" if current == f"-{key}" else "none"
    return {"label": spec.sorts[key][0], "href": "?" + params.urlencode(), "state": state}


@register.filter
def phone(e164: str | None) -> str:
    """+14155552671 -> "(415) 555-2671" for the team's region (DEFAULT_PHONE_REGION); numbers of
    other countries in international format; text that is not a number as it is."""
    if not e164:
        return ""
    from crm.phones import display_phone

    return display_phone(e164, settings.DEFAULT_PHONE_REGION)
