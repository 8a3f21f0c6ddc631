"""Phone number parsing that needs no Django: typed text in, E.164 + validity + timezone out."""

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime

import phonenumbers
from phonenumbers import timezone as phone_timezone


class PhoneParseError(ValueError):
    """The text cannot be read as a phone number at all."""


@dataclass(frozen=True)
class ParsedPhone:
    raw: str
    e164: str
    is_valid: bool
    region: str | None
    timezone: str | None


def parse_phone(raw: str, default_region: str = "US") -> ParsedPhone:
    """Parse what a user typed, in any common format, using ``default_region`` for numbers
    without a country code. Raises PhoneParseError for text that is not a possible number;
    numbers that are possible but not assigned come back with ``is_valid=False``."""
    text = (raw or "").strip()
    if not text:
        raise PhoneParseError("Enter a phone number.")
    try:
        number = phonenumbers.parse(text, (default_region or "US").upper())
    except phonenumbers.NumberParseException as exc:
        raise PhoneParseError(f"{text!r} is not a phone number ({_reason(exc)}).") from None
    if not phonenumbers.is_possible_number(number):
        raise PhoneParseError(f"{text!r} is not a possible phone number (wrong length for its country).")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ParsedPhone(
        raw=text,
        e164=e164,
        is_valid=phonenumbers.is_valid_number(number),
        region=phonenumbers.region_code_for_number(number),
        timezone=_single_timezone(number),
    )


# Two instants a season apart: zones that agree on both keep the same clock all year.
_PROBES = (datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC))


def _single_timezone(number) -> str | None:
    """The number's timezone when all the zones it may be in keep the same clock (London,
    Jersey and Guernsey do); toll-free and ranges that span zones give None, so callers fall
    back to the account's or the default timezone."""
    zones = [z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    if not zones:
        return None
    clocks = {tuple(probe.astimezone(zoneinfo.ZoneInfo(z)).utcoffset() for probe in _PROBES) for z in zones}
    return zones[0] if len(clocks) == 1 else None


def _reason(exc: phonenumbers.NumberParseException) -> str:
    return {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }.get(exc.error_type, "unreadable")


def is_region_code(value: str) -> bool:
    return (value or "").upper() in phonenumbers.SUPPORTED_REGIONS


def display_phone(e164: str, region: str = "US") -> str:
    """How a person of ``region`` reads a stored number: national format for numbers of that
    region, international for the others; anything unparseable as stored."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    same_region = phonenumbers.region_code_for_number(number) == (region or "").upper()
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if same_region
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)
