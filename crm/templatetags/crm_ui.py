"""Small display helpers for the CRM templates."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import dateformat, timezone

from crm import custom_fields

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


# Symbols people expect before an amount; any other ISO 4217 code is written out ("CHF 1,200").
CURRENCY_SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "INR": "₹",
}


def currency_prefix(code: str | None = None) -> str:
    code = (code or settings.CURRENCY).upper()
    return CURRENCY_SYMBOLS.get(code, f"{code} ")


@register.filter
def when(value, fmt: str = "M j, H:i") -> str:
    """A moment in the reader's zone (activated per request from their settings) with the zone
    named: ``Dec 6, 09:00 CET``. Every page prints times through it, so they all agree."""
    if not value:
        return ""
    local = timezone.localtime(value)
    return f"{dateformat.format(local, fmt)} {local.tzname()}"


def _number(value) -> Decimal | str:
    """An amount to show as a Decimal, or the text to show instead: "—" for none, the value
    itself when it is not a number."""
    if value is None or value == "":
        return "—"
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)


@register.filter
def amount(value, places=None) -> str:
    """12000 -> "12,000"; 12000.5 -> "12,000.50"; with ``amount:0`` whole units; None -> "—"."""
    number = _number(value)
    if isinstance(number, str):
        return number
    if places is not None:
        number = number.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP)
    if number == number.to_integral_value():
        return intcomma(int(number))
    return intcomma(f"{number.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}")


@register.filter
def money(value, places=None) -> str:
    """An amount in the team's currency (settings.CURRENCY, env ``CURRENCY``): 12000 -> "$12,000",
    -50 -> "-$50"; None -> "—". ``money:0`` rounds to whole units."""
    text = amount(value, places)
    if text == "—" or (not text[:1].replace("-", "").isdigit() and not text.startswith("-")):
        return text
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    return f"{sign}{currency_prefix()}{digits}"


MINUS = "\u2212"  # a real minus sign: "-" reads as a hyphen beside "to"
WORD_JOINER = "\u2060"
_COMPACT_STEPS = ((Decimal("1e9"), "B"), (Decimal("1e6"), "M"), (Decimal("1e3"), "k"))


def compact_amount(value, *, signed: bool = False) -> str:
    """An amount in the team's currency, short: 1,712,345 -> "$1.7M", 552,400 -> "$552k",
    -4,136 -> "-$4.1k" (a real minus sign), 795 -> "$795", 3.13 -> "$3.13"; ``signed`` writes
    "+" before a positive amount. Three significant figures at most; None -> "—"."""
    number = _number(value)
    if isinstance(number, str):
        return number
    magnitude = abs(number)
    for threshold, suffix in _COMPACT_STEPS:
        if magnitude.quantize(threshold / 10, rounding=ROUND_HALF_UP) >= threshold:
            scaled = magnitude / threshold
            places = 1 if scaled.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) < 100 else 0
            text = f"{scaled.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
            text = (text.rstrip("0").rstrip(".") if "." in text else text) + suffix
            break
    else:
        places = 2 if magnitude < 10 and magnitude != magnitude.to_integral_value() else 0
        text = f"{magnitude.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    if Decimal(text.rstrip("kMB") or 0) == 0:
        return f"{currency_prefix()}0"
    sign = MINUS if number < 0 else ("+" if signed else "")
    # A word joiner keeps the sign with the amount when a narrow cell wraps the line.
    return f"{sign}{WORD_JOINER if sign else ''}{currency_prefix()}{text}"


@register.filter
def money_short(value) -> str:
    """``compact_amount`` as a filter: "$1.7M", "-$4.1k" (a real minus sign)."""
    return compact_amount(value)


def too_wide_to_tell(estimate, low, high) -> bool:
    """An interval that spans zero and reaches further than the estimate on both sides: a loss
    and a gain each larger than the estimate are both plausible, so neither its sign nor its size
    can be read yet."""
    if low is None or high is None:
        return False
    low, high = Decimal(low), Decimal(high)
    size = abs(Decimal(estimate or 0))
    return low < 0 < high and min(-low, high) > size


@register.simple_tag
def money_interval(low, high, estimate=None) -> str:
    """A 95% interval of money, compact and signed: "-$1.7M to +$552k"; with ``estimate``, adds
    "too wide to tell yet" when ``too_wide_to_tell``. None limits -> "—"."""
    if low is None or high is None or low == "" or high == "":
        return "—"
    text = f"{compact_amount(low, signed=True)} to {compact_amount(high, signed=True)}"
    if estimate is not None and too_wide_to_tell(estimate, low, high):
        text += ": too wide to tell yet"
    return text


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


@register.filter
def duration(seconds) -> str:
    """1791 -> "29 min 51 s"; 5400 -> "1 h 30 min"; 190000 -> "2 d 4 h"; None -> "—"."""
    if seconds is None or seconds == "":
        return "—"
    try:
        total = round(float(seconds))
    except (TypeError, ValueError):
        return str(seconds)
    if total < 60:
        return f"{total} s"
    parts = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s")):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2])


@register.filter
def attribute_value(value) -> str:
    """A custom attribute as text: lists joined, booleans as Yes/No, nested objects compact."""
    import json

    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(attribute_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@register.filter
def attribute_label(key: str) -> str:
    """``seats_used`` -> "Seats used"."""
    return str(key).replace("_", " ").strip().capitalize()


@register.simple_tag
def custom_value(record, field) -> str:
    """A record's value of a custom field as a person reads it (crm.custom_fields.display)."""
    return custom_fields.display(field, (record.attributes or {}).get(field.key))
