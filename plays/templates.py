"""Message templates of plays: which placeholders exist, checking a template, rendering it."""

import string
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError

from sms.segments import MAX_BODY_CHARS

PLACEHOLDERS = ("first_name", "last_name", "account", "owner", "renewal_date", "renewal_acv", "link")
RENEWAL_PLACEHOLDERS = frozenset({"renewal_date", "renewal_acv"})


def placeholders_of(template: str) -> set[str]:
    """The placeholder names a template uses; ValueError when its braces do not parse."""
    names = set()
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if field == "" or spec or conversion:
            suffix = ("!" + conversion if conversion else "") + (":" + spec if spec else "")
            raise ValueError(f"{{{field}{suffix}}}")
        names.add(field)
    return names


def validate_template(template: str) -> None:
    allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    if not (template or "").strip():
        raise ValidationError("The message template is empty.")
    if len(template) > MAX_BODY_CHARS:
        raise ValidationError(f"The template is {len(template)} characters; the limit is {MAX_BODY_CHARS}.")
    try:
        names = placeholders_of(template)
    except ValueError as exc:
        raise ValidationError(
            f"Cannot read the placeholder {exc}: use plain placeholders such as {{first_name}}, and "
            f"write {{{{ or }}}} for a literal brace. Placeholders: {allowed}."
        ) from None
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        listed = ", ".join("{" + name + "}" for name in unknown)
        raise ValidationError(f"Unknown placeholder {listed}. Placeholders: {allowed}.")


@dataclass(frozen=True)
class MessageContext:
    first_name: str = ""
    last_name: str = ""
    account: str = ""
    owner: str = ""
    renewal_date: str | None = None
    renewal_acv: str | None = None
    link: str = ""


def format_date(value) -> str:
    return f"{value:%B} {value.day}, {value.year}"


def format_money(value: Decimal) -> str:
    return f"${value:,.0f}" if value == value.to_integral_value() else f"${value:,.2f}"


class RenderError(ValueError):
    """The template needs something this contact does not have; ``reason`` is machine-readable."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def render(template: str, context: MessageContext) -> str:
    """Fill a validated template. A text never goes out with a hole where a renewal should be."""
    values = {
        "first_name": context.first_name or "there",
        "last_name": context.last_name,
        "account": context.account or "your team",
        "owner": context.owner or "our team",
        "renewal_date": context.renewal_date,
        "renewal_acv": context.renewal_acv,
        "link": context.link,
    }
    if any(values[name] is None for name in placeholders_of(template) & RENEWAL_PLACEHOLDERS):
        raise RenderError("template:no_renewal")
    body = template.format_map(values).strip()
    if not body:
        raise RenderError("template:empty")
    return body
