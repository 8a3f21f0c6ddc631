"""Play audiences on custom fields (issue 20): ``contact_fields`` / ``account_fields`` conditions
with the list filters' operators, checked against the definitions (400 with the reason), shown in
the editor and the summary, applied set-based by a run and its preview."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import services
from crm.models import CustomField
from plays.audience import reachable_contacts, validate_audience
from plays.engine import play_run
from plays.models import Enrollment, Play
from plays.selectors import describe_audience
from tests.factories import ContactFactory
from tests.plays.conftest import make_play
from tests.plays.test_engine import renewing_account
from tests.plays.test_views import VALID

pytestmark = pytest.mark.django_db

TIERS = [["gold", "Gold"], ["silver", "Silver"]]


@pytest.fixture
def fields():
    services.custom_field_save(object_type="contact", key="vip", label="VIP", field_type="yes_no")
    services.custom_field_save(object_type="contact", key="seats", label="Seats", field_type="number")
    services.custom_field_save(
        object_type="account", key="tier", label="Tier", field_type="choice", choices=TIERS
    )
    services.custom_field_save(object_type="account", key="renews_on", label="Renews on", field_type="date")


@pytest.mark.parametrize(
    ("audience", "message"),
    [
        ({"contact_fields": {"vip": True}}, "must be a list"),
        ({"contact_fields": [{"field": "vip", "op": "eq"}]}, "must be an object with field, op and value"),
        ({"contact_fields": [{"field": "nope", "op": "eq", "value": 1}]}, "no contact custom field 'nope'"),
        (
            {"contact_fields": [{"field": "tier", "op": "eq", "value": "gold"}]},
            "no contact custom field 'tier'",
        ),
        ({"contact_fields": [{"field": "vip", "op": "gte", "value": True}]}, "takes eq, not 'gte'"),
        ({"contact_fields": [{"field": "seats", "op": "gte", "value": "many"}]}, "'many' is not a number"),
        (
            {"account_fields": [{"field": "tier", "op": "in", "value": ["tin"]}]},
            "'tin' is not one of gold, silver",
        ),
    ],
)
def test_bad_field_conditions_are_refused_with_the_reason(fields, audience, message):
    with pytest.raises(ValidationError, match=message):
        validate_audience(audience)


def test_the_api_answers_400_with_the_reason(fields, api):
    definition = {
        "name": "VIP nudge",
        "moment": "renewal",
        "trigger": {"type": "renewal_window", "days": 60},
        "template": "Hi {first_name}",
        "audience": {"account_fields": [{"field": "tier", "op": "eq", "value": "platinum"}]},
    }
    response = api.post("/api/v1/plays/", definition, format="json")
    assert response.status_code == 400
    assert "'platinum' is not one of gold, silver" in response.content.decode()
    assert not Play.objects.exists()


def test_conditions_select_contacts_and_accounts_in_one_query(fields):
    gold, _ = renewing_account(contacts=0, attributes={"tier": "gold", "renews_on": "2027-02-01"})
    silver, _ = renewing_account(contacts=0, attributes={"tier": "silver", "renews_on": "2027-02-01"})
    match = ContactFactory(account=gold, attributes={"vip": True, "seats": 40})
    ContactFactory(account=gold, attributes={"vip": True, "seats": 5})  # too few seats
    ContactFactory(account=gold, attributes={"vip": False, "seats": 40})  # not VIP
    ContactFactory(account=silver, attributes={"vip": True, "seats": 40})  # silver account
    audience = {
        "contact_fields": [
            {"field": "vip", "op": "eq", "value": True},
            {"field": "seats", "op": "gte", "value": 10},
        ],
        "account_fields": [
            {"field": "tier", "op": "in", "value": ["gold"]},
            {"field": "renews_on", "op": "lte", "value": "2027-03-01"},
        ],
    }
    validate_audience(audience)
    with CaptureQueriesContext(connection) as queries:
        found = list(reachable_contacts(audience).values_list("pk", flat=True))
    assert found == [match.pk]
    assert len(queries) == 3  # the contact and account definitions, then the contacts


def test_a_deleted_field_makes_its_condition_match_nobody(fields):
    _account, people = renewing_account(contacts=1, attributes={"tier": "gold"})
    audience = {"account_fields": [{"field": "tier", "op": "eq", "value": "gold"}]}
    assert list(reachable_contacts(audience)) == people
    CustomField.objects.filter(key="tier").delete()
    assert not reachable_contacts(audience).exists()


def test_a_run_and_its_preview_apply_the_conditions(fields):
    _gold, gold_people = renewing_account(contacts=2, attributes={"tier": "gold"})
    renewing_account(contacts=3, attributes={"tier": "silver"})
    play = make_play(audience={"account_fields": [{"field": "tier", "op": "eq", "value": "gold"}]})
    preview = play_run(play, dry_run=True)
    assert preview.decided == 2 and not Enrollment.objects.exists()
    play_run(play)
    assert set(Enrollment.objects.values_list("contact_id", flat=True)) == {p.pk for p in gold_people}


def test_the_editor_reads_and_writes_conditions_and_the_summary_shows_them(fields, web):
    data = {
        **VALID,
        "contact_fields": "vip = yes\nseats >= 10",
        "account_fields": "tier in Gold, silver\nrenews_on <= 2027-03-01",
    }
    response = web.post(reverse("play_create"), data)
    assert response.status_code == 302
    play = Play.objects.get()
    assert play.audience == {
        "contact_fields": [
            {"field": "vip", "op": "eq", "value": True},
            {"field": "seats", "op": "gte", "value": 10},
        ],
        "account_fields": [
            {"field": "tier", "op": "in", "value": ["gold", "silver"]},
            {"field": "renews_on", "op": "lte", "value": "2027-03-01"},
        ],
    }
    form = web.get(reverse("play_edit", args=[play.pk])).context["form"]
    assert form["contact_fields"].value() == "vip = yes\nseats >= 10"
    assert form["account_fields"].value() == "tier in gold, silver\nrenews_on <= 2027-03-01"
    assert describe_audience(play.audience) == [
        ("Contact field", "VIP is Yes"),
        ("Contact field", "Seats is at least 10"),
        ("Account field", "Tier is any of Gold, Silver"),
        ("Account field", "Renews on is at most Mar 1, 2027"),
    ]
    body = web.get(reverse("play_detail", args=[play.pk])).content.decode()
    assert "Tier is any of Gold, Silver" in body


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("tier = platinum", "&#x27;platinum&#x27; is not one of gold, silver"),
        ("what is this", "Line 1: write field = value"),
        ("nope = 1", "no account custom field &#x27;nope&#x27;"),
    ],
)
def test_the_editor_shows_bad_conditions_next_to_the_field(fields, web, lines, message):
    response = web.post(reverse("play_create"), {**VALID, "account_fields": lines})
    assert response.status_code in (200, 400)
    assert message in response.content.decode()
    assert not Play.objects.exists()
