"""Custom fields: the typed values a team defines for accounts and contacts (``CustomField``).

Values live in the records' ``attributes`` under the field's key, in one canonical JSON form per
type: text a string, number a JSON number, date ``"YYYY-MM-DD"``, yes/no ``true``/``false``,
choice the choice's value, multiple choice a list of values. ``parse`` turns what a person, an
integration or a CSV cell gives into that form (or says why it cannot); attributes without a
definition are kept as they come.

Conditions (list filters, the API's ``attr.<key>`` parameters, play audiences) are
``Condition(key, op, value)`` with the operators a type allows: ``eq`` / ``in`` for choice and
yes/no (``in`` = has any of, for multiple choice), ``gte`` / ``lte`` for number and date,
``contains`` for text. ``condition_q`` builds the filter set-based; on PostgreSQL equality is a
JSON containment (``attributes @> {...}``) that the GIN index on ``attributes`` serves.
"""

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q
from django.utils.dateparse import parse_date

from crm.models import CustomField, CustomFieldType

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,49}")
TRUE_WORDS = {"yes", "y", "true", "t", "1", "on"}
FALSE_WORDS = {"no", "n", "false", "f", "0", "off"}
MULTI_SEPARATORS = re.compile(r"\s*[;,|]\s*")
MAX_TEXT = 1000
MAX_NUMBER = Decimal("1e15")  # JSON numbers every database and client reads exactly enough

# Operators each type allows, and what each reads as (the editor and summaries use them).
OPERATORS = {
    CustomFieldType.TEXT: ("contains",),
    CustomFieldType.NUMBER: ("eq", "gte", "lte"),
    CustomFieldType.DATE: ("eq", "gte", "lte"),
    CustomFieldType.YES_NO: ("eq",),
    CustomFieldType.CHOICE: ("eq", "in"),
    CustomFieldType.MULTI_CHOICE: ("in",),
}
OPERATOR_WORDS = {
    "eq": "is",
    "in": "is any of",
    "gte": "is at least",
    "lte": "is at most",
    "contains": "contains",
}
RANGE_TYPES = (CustomFieldType.NUMBER, CustomFieldType.DATE)


def definitions(object_type: str) -> list[CustomField]:
    """The fields defined for accounts or contacts, in display order (one query)."""
    return list(CustomField.objects.filter(object_type=object_type).order_by("position", "id"))


def by_key(object_type: str) -> dict[str, CustomField]:
    return {field.key: field for field in definitions(object_type)}


def check_key(key: str) -> str:
    key = (key or "").strip()
    if not KEY_PATTERN.fullmatch(key) or "__" in key:
        raise ValidationError(
            {"key": "Use 1-50 lowercase letters, digits and single underscores, starting with a letter."}
        )
    return key


def parse_choices(text: str) -> list[list[str]]:
    """One choice per line, ``value = Label`` or just a label (its value is the label)."""
    choices, seen = [], set()
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        value, sep, label = line.partition("=")
        value, label = value.strip(), (label.strip() if sep else value.strip())
        if not value or not label:
            raise ValidationError({"choices": f"“{line.strip()}”: write value = Label, or just a label."})
        if value.lower() in seen:
            raise ValidationError({"choices": f"The choice “{value}” is listed twice."})
        seen.add(value.lower())
        choices.append([value[:100], label[:100]])
    return choices


def choices_text(choices) -> str:
    return "\n".join(value if value == label else f"{value} = {label}" for value, label in choices or [])


# --- Values ---------------------------------------------------------------------------------


def _shown(raw) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "…'"


def _number(raw):
    if isinstance(raw, bool):
        raise ValueError
    number = Decimal(str(raw)) if isinstance(raw, int | float) else Decimal(str(raw).strip().replace(",", ""))
    if not number.is_finite() or abs(number) >= MAX_NUMBER:
        raise ValueError
    return int(number) if number == number.to_integral_value() else float(number)


def _choice(field: CustomField, raw) -> str:
    text = str(raw).strip()
    for value, _label in field.choices or []:
        if text == value:
            return value
    for value, label in field.choices or []:
        if text.lower() in (value.lower(), label.lower()):
            return value
    allowed = ", ".join(value for value, _ in field.choices or [])
    raise ValueError(f"{_shown(raw)} is not one of {allowed}")


def parse(field: CustomField, raw):
    """``raw`` (JSON from the API, text from a form or a CSV cell) in the field's canonical form;
    None for blank. Raises ValueError saying why the value does not fit."""
    if raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []:
        return None
    kind = field.field_type
    if kind == CustomFieldType.TEXT:
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise ValueError(f"{_shown(raw)} is not text")
        text = str(raw).strip()
        if len(text) > MAX_TEXT:
            raise ValueError(f"is longer than {MAX_TEXT} characters")
        return text
    if kind == CustomFieldType.NUMBER:
        try:
            return _number(raw)
        except (ValueError, InvalidOperation, TypeError):
            raise ValueError(f"{_shown(raw)} is not a number") from None
    if kind == CustomFieldType.DATE:
        if isinstance(raw, date):
            return raw.isoformat()
        day, text = None, raw.strip() if isinstance(raw, str) else ""
        if len(text) == 10 or (len(text) > 10 and text[10] in "T "):  # a date, or a time's date
            try:
                day = parse_date(text[:10])
            except ValueError:
                day = None
        if day is None or not 1900 <= day.year <= 2200:
            raise ValueError(f"{_shown(raw)} is not a date (YYYY-MM-DD)")
        return day.isoformat()
    if kind == CustomFieldType.YES_NO:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValueError(f"{_shown(raw)} is not yes or no")
    if kind == CustomFieldType.CHOICE:
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise ValueError(f"{_shown(raw)} is not one of {', '.join(v for v, _ in field.choices or [])}")
        return _choice(field, raw)
    # Multiple choice: a list, or text separated by ; , or |.
    items = raw if isinstance(raw, list) else MULTI_SEPARATORS.split(str(raw).strip())
    chosen = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        value = _choice(field, item)
        if value not in chosen:
            chosen.append(value)
    order = [value for value, _ in field.choices or []]
    return sorted(chosen, key=order.index) or None


def fits(field: CustomField, raw) -> bool:
    try:
        parse(field, raw)
    except ValueError:
        return False
    return True


def display(field: CustomField, value) -> str:
    """A stored value as a person reads it: dates as dates, yes/no, choices by label."""
    if value is None or value == "" or value == []:
        return "—"
    try:
        value = parse(field, value)
    except ValueError:
        return str(value)  # stored before the field was defined and never normalized: as it is
    kind = field.field_type
    if kind == CustomFieldType.DATE:
        return date.fromisoformat(value).strftime("%b %-d, %Y")
    if kind == CustomFieldType.YES_NO:
        return "Yes" if value else "No"
    if kind == CustomFieldType.NUMBER:
        return f"{value:,}"
    labels = field.choice_labels
    if kind == CustomFieldType.CHOICE:
        return labels.get(value, value)
    if kind == CustomFieldType.MULTI_CHOICE:
        return ", ".join(labels.get(item, item) for item in value)
    return str(value)


def check_attributes(object_type: str, attributes, *, fields: dict | None = None) -> dict:
    """The attributes with every defined field's value in its canonical form (blank ones
    dropped); undefined keys as given. Raises ValidationError on ``attributes`` naming each
    field whose value does not fit, e.g. "attributes.plan_tier: 'x' is not one of gold, silver"."""
    if not isinstance(attributes, dict):
        raise ValidationError({"attributes": "Custom fields are a JSON object."})
    fields = by_key(object_type) if fields is None else fields
    cleaned, problems = {}, []
    for key, raw in attributes.items():
        field = fields.get(key)
        if field is None:
            cleaned[key] = raw
            continue
        try:
            value = parse(field, raw)
        except ValueError as exc:
            problems.append(f"attributes.{key}: {exc}.")
            continue
        if value is not None:
            cleaned[key] = value
    if problems:
        raise ValidationError({"attributes": problems})
    return cleaned


@dataclass(frozen=True)
class Shown:
    field: CustomField
    value: object
    text: str


def present(attributes: dict | None, fields: list[CustomField]) -> tuple[list[Shown], dict]:
    """A record's defined fields (in order, set or not) and its other attributes."""
    attributes = attributes or {}
    defined = [
        Shown(field, attributes.get(field.key), display(field, attributes.get(field.key))) for field in fields
    ]
    keys = {field.key for field in fields}
    return defined, {key: value for key, value in attributes.items() if key not in keys}


# --- Conditions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    key: str
    op: str
    value: object  # canonical: a list of values for ``in``

    def as_dict(self) -> dict:
        return {"field": self.key, "op": self.op, "value": self.value}


def condition_check(field: CustomField, op: str, raw) -> Condition:
    """A condition on ``field`` with its value in canonical form; ValueError saying why not."""
    allowed = OPERATORS[field.field_type]
    if op not in allowed:
        raise ValueError(
            f"a {field.get_field_type_display().lower()} field takes {', '.join(allowed)}, not {op!r}"
        )
    if op == "in":
        items = raw if isinstance(raw, list) else MULTI_SEPARATORS.split(str(raw or "").strip())
        values = []
        for item in items:
            if isinstance(item, str) and not item.strip():
                continue
            value = _choice(field, item)
            if value not in values:
                values.append(value)
        if not values:
            raise ValueError("choose at least one value")
        return Condition(field.key, op, values)
    if op == "contains":
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError("give the text to look for")
        return Condition(field.key, op, raw.strip()[:200])
    value = parse(field, raw)
    if value is None:
        raise ValueError("give a value")
    return Condition(field.key, op, value)


def _contains(prefix: str, key: str, value) -> Q:
    return Q(**{f"{prefix}attributes__contains": {key: value}})


def condition_q(condition: Condition, field: CustomField | None, *, prefix: str = "") -> Q:
    """The rows (``prefix`` a relation path such as ``account__``) meeting the condition. A
    condition on a field no longer defined matches nobody: an audience never widens silently."""
    if field is None:
        return Q(pk__in=[])
    key, op, value = condition.key, condition.op, condition.value
    path = f"{prefix}attributes__{key}"
    postgres = connection.vendor == "postgresql"
    if op == "contains":
        return Q(**{f"{path}__icontains": value})
    if op in ("gte", "lte"):
        return Q(**{f"{path}__{op}": value})
    values = value if op == "in" else [value]
    multi = field.field_type == CustomFieldType.MULTI_CHOICE
    q = Q()
    for item in values:
        if postgres:  # served by the GIN index on attributes
            q |= _contains(prefix, key, [item] if multi else item)
        elif multi:  # SQLite: the JSON text of the list holds the quoted value
            q |= Q(**{f"{path}__icontains": f'"{item}"'})
        else:
            q |= Q(**{path: item})
    return q


def conditions_q(conditions: list[Condition], fields: dict[str, CustomField], *, prefix: str = "") -> Q:
    q = Q()
    for condition in conditions:
        q &= condition_q(condition, fields.get(condition.key), prefix=prefix)
    return q


def describe(condition: Condition, field: CustomField | None) -> str:
    """“Plan tier is any of Gold, Silver”."""
    if field is None:
        return f"{condition.key} (no longer defined: matches nobody)"
    values = condition.value if isinstance(condition.value, list) else [condition.value]
    if field.field_type in (CustomFieldType.CHOICE, CustomFieldType.MULTI_CHOICE):
        shown = ", ".join(field.choice_labels.get(v, v) for v in values)
    elif field.field_type == CustomFieldType.TEXT:
        shown = f"“{condition.value}”"
    else:
        shown = display(field, condition.value)
    return f"{field.label} {OPERATOR_WORDS.get(condition.op, condition.op)} {shown}"


# --- Query strings: attr.<key>, attr.<key>.min, attr.<key>.max ---------------------------------

PARAM_PREFIX = "attr."


def param_names(field: CustomField) -> list[str]:
    base = f"{PARAM_PREFIX}{field.key}"
    return [f"{base}.min", f"{base}.max"] if field.field_type in RANGE_TYPES else [base]


def conditions_from_params(params, fields: dict[str, CustomField]) -> tuple[list[Condition], list[str]]:
    """Conditions from a query string: ``attr.<key>=v`` (repeat for any of; text: contains;
    number and date: equals), ``attr.<key>.min`` / ``.max`` (number and date, inclusive). Returns
    the conditions and the problems (unknown fields, values that do not fit)."""
    conditions, problems = [], []
    for name in sorted({name for name in params if name.startswith(PARAM_PREFIX)}):
        values = [value for value in params.getlist(name) if value.strip()]
        if not values:
            continue
        key, _, bound = name[len(PARAM_PREFIX) :].partition(".")
        field = fields.get(key)
        if field is None:
            problems.append(f"{name}: there is no custom field {key!r}.")
            continue
        if bound:
            op = {"min": "gte", "max": "lte"}.get(bound)
            if op is None or field.field_type not in RANGE_TYPES:
                problems.append(f"{name}: only number and date fields take .min and .max.")
                continue
            raw = values[0]
        elif field.field_type == CustomFieldType.TEXT:
            op, raw = "contains", values[0]
        elif field.field_type in (CustomFieldType.CHOICE, CustomFieldType.MULTI_CHOICE):
            op, raw = (
                ("in", values)
                if len(values) > 1 or field.field_type != CustomFieldType.CHOICE
                else ("eq", values[0])
            )
        else:
            op, raw = "eq", values[0]
        try:
            conditions.append(condition_check(field, op, raw))
        except ValueError as exc:
            problems.append(f"{name}: {exc}.")
    return conditions, problems
