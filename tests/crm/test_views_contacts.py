"""Contact pages: list, detail, create/edit with phone parsing and uniqueness errors."""

from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse

from crm import services
from crm.models import Contact, SmsConsent
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    EventFactory,
    OrderFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def shown(web, **params) -> set[str]:
    return {c.full_name for c in web.get(reverse("contact_list"), params).context["page_obj"]}


def contact_data(**overrides) -> dict:
    return {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "phone": "(415) 555-2671",
        "phone_region": "US",
        "account": "",
        "owner": "",
        "acquisition_channel": "other",
        "timezone": "",
        **overrides,
    }


# --- List -----------------------------------------------------------------------------------


def test_contact_list_shows_contacts_with_consent_badges(web):
    acme = AccountFactory(name="Acme Corp")
    ContactFactory(first_name="Ann", last_name="Lee", account=acme, sms_consent=SmsConsent.OPTED_IN)
    ContactFactory(first_name="Bo", last_name="Ray", account=None, sms_consent=SmsConsent.OPTED_OUT)
    body = web.get(reverse("contact_list")).content.decode()
    assert "Ann Lee" in body and "Bo Ray" in body and "Acme Corp" in body
    assert "badge-consent-opted_in" in body and "badge-consent-opted_out" in body


def test_contact_list_search_by_name_email_and_phone(web):
    ContactFactory(first_name="Ann", last_name="Lee", email="ann@acme.test", phone="+14155552671")
    ContactFactory(first_name="Bo", last_name="Ray", email="bo@globex.test", phone="+12125550000")
    ContactFactory(first_name="Cy", last_name="Annex", email="cy@initech.test", phone="+13125550000")
    assert shown(web, q="ann") == {"Ann Lee", "Cy Annex"}
    assert shown(web, q="Ann Lee") == {"Ann Lee"}
    assert shown(web, q="globex") == {"Bo Ray"}
    assert shown(web, q="+1415555") == {"Ann Lee"}
    # However the number was typed, its E.164 form finds the contact.
    assert shown(web, q="(415) 555-2671") == {"Ann Lee"}
    assert shown(web, q="nobody") == set()


def test_contact_list_filters_by_account_owner_and_consent(web, user):
    acme, globex = AccountFactory(name="Acme"), AccountFactory(name="Globex")
    bob = UserFactory(username="bob")
    ContactFactory(first_name="Ann", last_name="A", account=acme, owner=user, sms_consent=SmsConsent.OPTED_IN)
    ContactFactory(first_name="Bo", last_name="B", account=globex, owner=bob, sms_consent=SmsConsent.OPTED_IN)
    ContactFactory(first_name="Cy", last_name="C", account=acme, owner=bob, sms_consent=SmsConsent.OPTED_OUT)
    assert shown(web, account=acme.pk) == {"Ann A", "Cy C"}
    assert shown(web, owner=bob.pk) == {"Bo B", "Cy C"}
    assert shown(web, consent="opted_in") == {"Ann A", "Bo B"}
    assert shown(web, account=acme.pk, consent="opted_out") == {"Cy C"}
    assert shown(web, account="999999") == {"Ann A", "Bo B", "Cy C"}  # unknown account: filter ignored


def test_contact_list_paginates(web):
    account = AccountFactory()
    ContactFactory.create_batch(51, account=account)
    first = web.get(reverse("contact_list"), {"account": account.pk})
    assert len(first.context["page_obj"]) == 50
    assert f'href="?account={account.pk}&amp;page=2"' in first.content.decode()
    assert len(web.get(reverse("contact_list"), {"account": account.pk, "page": 2}).context["page_obj"]) == 1


def test_contact_list_runs_a_constant_number_of_queries(web, django_assert_max_num_queries):
    def add(n):
        for _ in range(n):
            ContactFactory(owner=UserFactory())

    add(3)
    with django_assert_max_num_queries(9):  # 6 + custom fields, tags, tag names
        web.get(reverse("contact_list"))
    add(27)
    with django_assert_max_num_queries(9):  # 6 + custom fields, tags, tag names
        web.get(reverse("contact_list"))


# --- Detail ---------------------------------------------------------------------------------


def test_contact_detail_shows_phone_consent_orders_events_tasks_and_timeline(web):
    contact = services.contact_create(
        first_name="Ann", last_name="Lee", email="ann@example.com", phone="(415) 555-2671"
    )
    OrderFactory(contact=contact, amount=Decimal("149.00"), attribution="sms:spring-promo")
    EventFactory(contact=contact, name="report_exported")
    TaskFactory(contact=contact, account=None, title="Call Ann about renewal")
    ActivityFactory(contact=contact, account=None, summary="Asked about pricing")
    ActivityFactory(summary="Someone else's note")

    body = web.get(reverse("contact_detail", args=[contact.pk])).content.decode()
    for text in (
        "+14155552671",
        "(415) 555-2671",
        "America/Los_Angeles",
        "badge-consent-unknown",
        "149",
        "sms:spring-promo",
        "report_exported",
        "Call Ann about renewal",
        "Asked about pricing",
    ):
        assert text in body, text
    assert "valid</span>" in body
    assert "Someone else" not in body


def test_contact_detail_flags_an_invalid_number(web):
    contact = ContactFactory(phone="+12125550123", phone_raw="212 555 0123", phone_valid=False)
    body = web.get(reverse("contact_detail", args=[contact.pk])).content.decode()
    assert "not valid" in body


def test_log_a_touch_on_a_contact_files_it_on_the_account_too(web, user):
    contact = ContactFactory()
    web.post(reverse("contact_log_touch", args=[contact.pk]), {"kind": "call", "summary": "Left a voicemail"})
    entry = contact.activities.get()
    assert entry.account_id == contact.account_id
    assert entry.actor == user


# --- Create / edit --------------------------------------------------------------------------


def test_contact_form_defaults_phone_region_to_the_setting(web):
    with override_settings(DEFAULT_PHONE_REGION="GB"):
        body = web.get(reverse("contact_create")).content.decode()
    assert '<option value="GB" selected>' in body


def test_contact_create_parses_the_phone(web, user):
    account = AccountFactory(timezone="")
    response = web.post(reverse("contact_create"), contact_data(account=account.pk, owner=user.pk))
    contact = Contact.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("contact_detail", args=[contact.pk])
    assert (contact.phone, contact.phone_raw, contact.phone_valid) == ("+14155552671", "(415) 555-2671", True)
    assert contact.timezone == "America/Los_Angeles"
    assert (contact.account, contact.owner) == (account, user)


def test_contact_create_uses_the_chosen_region(web):
    web.post(reverse("contact_create"), contact_data(phone="020 7946 0958", phone_region="GB"))
    assert Contact.objects.get().phone == "+442079460958"


def test_contact_create_with_unparseable_phone_shows_a_field_error(web):
    response = web.post(reverse("contact_create"), contact_data(phone="abc"))
    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == ["phone"]
    assert "not a phone number" in form.errors["phone"][0]
    assert "field-error" in response.content.decode()
    assert not Contact.objects.exists()


def test_contact_create_with_duplicate_email_in_other_case_shows_a_field_error(web):
    ContactFactory(email="ann@example.com")
    response = web.post(reverse("contact_create"), contact_data(email="ANN@Example.com"))
    assert response.status_code == 200
    assert "already uses" in response.context["form"].errors["email"][0]
    assert Contact.objects.count() == 1


def test_contact_create_with_duplicate_phone_shows_a_field_error(web):
    ContactFactory(phone="+14155552671")
    response = web.post(
        reverse("contact_create"), contact_data(phone="415.555.2671", email="new@example.com")
    )
    assert response.status_code == 200
    assert "already uses +14155552671" in response.context["form"].errors["phone"][0]
    assert Contact.objects.count() == 1


def test_contact_create_with_bad_email_shows_a_field_error(web):
    response = web.post(reverse("contact_create"), contact_data(email="not-an-email"))
    assert "email" in response.context["form"].errors


def test_contact_edit_changes_fields_and_phone(web):
    contact = ContactFactory(first_name="Ann", phone="+14155552671", phone_raw="+14155552671")
    page = web.get(reverse("contact_edit", args=[contact.pk])).content.decode()
    assert 'value="+14155552671"' in page
    response = web.post(
        reverse("contact_edit", args=[contact.pk]),
        contact_data(
            first_name="Annie", email=contact.email, phone="212-200-0001", timezone="America/New_York"
        ),
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.first_name, contact.phone, contact.phone_raw) == ("Annie", "+12122000001", "212-200-0001")


def test_contact_edit_to_a_new_number_reinfers_an_inferred_timezone(web):
    contact = services.contact_create(first_name="Ann", email="ann@example.com", phone="(415) 555-2671")
    assert contact.timezone == "America/Los_Angeles"
    form_page = web.get(reverse("contact_edit", args=[contact.pk]))
    initial = form_page.context["form"].initial
    response = web.post(
        reverse("contact_edit", args=[contact.pk]),
        contact_data(email=contact.email, phone="(212) 200-0001", timezone=initial["timezone"]),
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.timezone == "America/New_York"


def test_contact_edit_keeps_a_timezone_the_user_chose(web):
    contact = services.contact_create(first_name="Ann", email="ann@example.com", phone="(415) 555-2671")
    web.post(
        reverse("contact_edit", args=[contact.pk]),
        contact_data(email=contact.email, phone="(212) 200-0001", timezone="Europe/Paris"),
    )
    contact.refresh_from_db()
    assert (contact.phone, contact.timezone) == ("+12122000001", "Europe/Paris")


def test_contact_edit_with_bad_phone_keeps_the_stored_number(web):
    contact = ContactFactory(phone="+14155552671", phone_raw="+14155552671")
    response = web.post(
        reverse("contact_edit", args=[contact.pk]), contact_data(email=contact.email, phone="abc")
    )
    assert response.status_code == 200
    assert "phone" in response.context["form"].errors
    contact.refresh_from_db()
    assert contact.phone == "+14155552671"


def test_contact_edit_to_another_contacts_email_shows_a_field_error(web):
    ContactFactory(email="taken@example.com")
    contact = ContactFactory(email="mine@example.com")
    response = web.post(
        reverse("contact_edit", args=[contact.pk]),
        contact_data(email="Taken@Example.com", phone=contact.phone_raw),
    )
    assert "email" in response.context["form"].errors
    contact.refresh_from_db()
    assert contact.email == "mine@example.com"


def test_contact_create_prefills_account_from_query(web):
    account = AccountFactory(name="Acme Corp")
    body = web.get(reverse("contact_create"), {"account": account.pk}).content.decode()
    assert f'<input type="hidden" name="account" value="{account.pk}"' in body
    assert 'value="Acme Corp"' in body
