"""How values read (issue 20): money in the team's currency, phones in the team's national
format, durations in words, reasons as sentences, control rows as the control group, custom
attributes on the record pages."""

from decimal import Decimal

import pytest
from django.urls import reverse

from crm.templatetags.crm_ui import attribute_value, duration, money, phone
from plays.templatetags.plays_ui import outcome_label, reason_label
from tests.factories import AccountFactory, ContactFactory, DealFactory


@pytest.mark.parametrize(
    ("currency", "value", "shown"),
    [
        ("USD", Decimal("12000"), "$12,000"),
        ("USD", Decimal("-50.5"), "-$50.50"),
        ("EUR", 1234.5, "€1,234.50"),
        ("CHF", 99, "CHF 99"),
        ("USD", None, "—"),
    ],
)
def test_money_carries_the_team_currency(settings, currency, value, shown):
    settings.CURRENCY = currency
    assert money(value) == shown


def test_phones_read_in_the_team_region(settings):
    settings.DEFAULT_PHONE_REGION = "US"
    assert phone("+14155552671") == "(415) 555-2671"
    assert phone("+442079460018") == "+44 20 7946 0018"
    settings.DEFAULT_PHONE_REGION = "GB"
    assert phone("+442079460018") == "020 7946 0018"
    assert phone("not a number") == "not a number"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "—"), (42, "42 s"), (1791, "29 min 51 s"), (5400, "1 h 30 min"), (190000, "2 d 4 h")],
)
def test_durations_in_words(seconds, shown):
    assert duration(seconds) == shown


def test_reasons_read_as_sentences():
    assert reason_label("consent:not_opted_in") == "Not opted in to texts"
    assert reason_label("cap:contact_weekly") == "Weekly text limit for the contact reached"
    assert reason_label("something:brand_new") == "Something: brand new"
    assert reason_label("") == ""


def test_control_rows_are_the_control_group():
    class Row:
        arm, outcome = "control", "suppressed"

        def get_outcome_display(self):
            return "Suppressed"

    assert outcome_label(Row()) == "Control group (held out)"
    Row.arm = "treatment"
    assert outcome_label(Row()) == "Suppressed"


def test_attribute_values():
    assert attribute_value(True) == "Yes" and attribute_value(["a", 2]) == "a, 2"
    assert attribute_value({"b": 1}) == '{"b": 1}' and attribute_value("") == "—"


@pytest.mark.django_db
def test_record_pages_show_currency_phone_and_custom_attributes(web, settings):
    settings.CURRENCY = "EUR"
    account = AccountFactory(name="Acme", attributes={"industry": "Retail", "seats_used": 42})
    contact = ContactFactory(account=account, phone="+14155552671", attributes={"favourite_colour": "teal"})
    DealFactory(account=account, contact=contact, amount=Decimal("12000"))
    page = web.get(reverse("contact_detail", args=[contact.pk])).content.decode()
    assert "(415) 555-2671" in page and "Favourite colour" in page and "teal" in page
    assert "€12,000" in page
    page = web.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "Seats used" in page and ">42<" in page and "Industry" in page and "€12,000" in page
    assert "(415) 555-2671" in web.get(reverse("contact_list")).content.decode()


@pytest.mark.django_db
def test_the_enrollment_log_reads_in_words(web):
    from plays.models import Arm, Enrollment, Outcome
    from tests.plays.conftest import make_play

    play = make_play()
    held, refused = ContactFactory(), ContactFactory()
    for contact, arm, reason in (
        (held, Arm.CONTROL, "holdout"),
        (refused, Arm.TREATMENT, "consent:not_opted_in"),
    ):
        Enrollment.objects.create(
            play=play,
            contact=contact,
            account=contact.account,
            occurrence=f"t:{contact.pk}",
            arm=arm,
            outcome=Outcome.SUPPRESSED,
            reason=reason,
        )
    page = web.get(reverse("play_detail", args=[play.pk])).content.decode()
    assert "Control group (held out)" in page
    assert "Not opted in to texts" in page and "<code>consent:not_opted_in</code>" not in page
