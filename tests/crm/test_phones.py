import pytest

from crm.phones import PhoneParseError, is_region_code, parse_phone


@pytest.mark.parametrize(
    ("typed", "region", "e164", "tz"),
    [
        ("(415) 555-2671", "US", "+14155552671", "America/Los_Angeles"),
        ("212.867.5309", "US", "+12128675309", "America/New_York"),
        ("+1 312 555 0199", "GB", "+13125550199", "America/Chicago"),
        ("020 7946 0958", "GB", "+442079460958", "Europe/London"),
        ("  +33 1 42 68 53 00 ", "US", "+33142685300", "Europe/Paris"),
    ],
)
def test_common_formats_become_e164_with_timezone(typed, region, e164, tz):
    parsed = parse_phone(typed, region)
    assert parsed.e164 == e164
    assert parsed.raw == typed.strip()
    assert parsed.timezone == tz


def test_possible_but_unassigned_number_is_kept_and_flagged_invalid():
    parsed = parse_phone("+1 999 123 4567")
    assert parsed.e164 == "+19991234567"
    assert parsed.is_valid is False


@pytest.mark.parametrize("typed", ["", "abc", "123", "+999 1234", "1" * 25])
def test_unreadable_numbers_raise_a_clear_error(typed):
    with pytest.raises(PhoneParseError):
        parse_phone(typed)


def test_region_codes():
    assert is_region_code("us") and is_region_code("GB")
    assert not is_region_code("XX") and not is_region_code("")
