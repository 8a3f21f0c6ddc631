"""US state telephone-solicitation rules that narrow when marketing texts may arrive and how
many a person may get on one subject. Data, plus how a contact's state is known: the
``state`` in its attributes when set, else the number's area code (each of these laws
presumes a number with one of its area codes belongs to a resident). ``quiet_hours`` applies
the windows, ``governance`` the caps; the README's "State texting rules" cites the sources."""

from collections import Counter
from dataclasses import dataclass

import phonenumbers
from phonenumbers.geodata import GEOCODE_DATA


@dataclass(frozen=True)
class StateRule:
    state: str  # USPS code
    name: str
    start_hour: int  # local time of the called party, inclusive
    end_hour: int  # exclusive
    daily_cap: int  # texts per rolling 24 hours on the same subject (one play = one subject)
    citation: str


STATE_RULES: dict[str, StateRule] = {
    rule.state: rule
    for rule in (
        StateRule("FL", "Florida", 8, 20, 3, "Fla. Stat. § 501.616(6)(a)-(b) (ch. 2021-185)"),
        StateRule("OK", "Oklahoma", 8, 20, 3, "15 Okla. Stat. § 775C.4 (Telephone Solicitation Act of 2022)"),
        StateRule("MD", "Maryland", 8, 20, 3, "Md. Code, Com. Law §§ 14-4501 ff. (Stop the Spam Calls Act)"),
    )
}
_BY_NAME = {rule.name.lower(): rule.state for rule in STATE_RULES.values()}


def rule_for(state: str | None) -> StateRule | None:
    return STATE_RULES.get(state or "")


def contact_state(phone: str | None, attributes: dict | None = None) -> str | None:
    """The contact's US state: ``attributes["state"]`` (a code or a ruled state's name) when
    set, else the state of the number's area code; None when neither says."""
    given = str((attributes or {}).get("state") or "").strip()
    if given:
        return _BY_NAME.get(given.lower(), given.upper())
    return number_state(phone)


# Area code ("+1305") -> state, filled from phonenumbers' geocoding data as numbers are seen:
# a US area code lies in one state, so one lookup serves every number that shares it.
_AREA_STATES: dict[str, str | None] = {}


def number_state(phone: str | None) -> str | None:
    """The state of a US number's area code (phonenumbers' geocoding data); None for other
    countries, toll-free and unknown numbers."""
    if not phone or not phone.startswith("+1") or len(phone) < 5:
        return None
    area = phone[:5]
    if area in _AREA_STATES:
        return _AREA_STATES[area]
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    if region is None:  # an invalid number says nothing about its area code
        return None
    _AREA_STATES[area] = _area_state(area[1:]) if region == "US" else None
    return _AREA_STATES[area]


def _area_state(digits: str) -> str | None:
    """The state of an area code ("1305"), whichever of its numbers asked: the area's own
    entry ("New York, NY", or a ruled state's name such as "Florida"), else the state most of
    the places under it name ("San Francisco, CA")."""
    own = _description(digits)
    if code := _code_of(own):
        return code
    places = Counter(
        code
        for exchange in range(200, 1000)
        for prefix in (f"{digits}{exchange}", f"{digits}{exchange // 10}")
        if (code := _code_of(_description(prefix)))
    )
    return places.most_common(1)[0][0] if places else None


def _code_of(description: str) -> str | None:
    city, _, code = description.rpartition(", ")
    if city and len(code) == 2 and code.isalpha():
        return code.upper()
    return _BY_NAME.get(description.lower())


def _description(prefix: str) -> str:
    return GEOCODE_DATA.get(prefix, {}).get("en", "")
