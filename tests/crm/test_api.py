"""REST API: auth, error shapes, pagination, accounts and contacts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Account, ApiToken, Contact, Deal, Order, Renewal, SmsConsent
from tests.factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    OrderFactory,
    RenewalFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

RESOURCES = ["accounts", "contacts", "deals", "renewals", "orders", "events", "tasks", "activities"]


# --- Auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", [*RESOURCES, "pipeline-stages"])
def test_anonymous_calls_get_401_with_a_challenge(anon_api, resource):
    response = anon_api.get(f"/api/v1/{resource}/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_revoked_token_gets_401(anon_api, user):
    token, key = ApiToken.issue(user=user, name="old")
    anon_api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert anon_api.get("/api/v1/accounts/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    response = anon_api.get("/api/v1/accounts/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked token."}


@pytest.mark.parametrize("header", ["Token", "Token not-a-key", "Token a b"])
def test_malformed_or_unknown_token_gets_401(anon_api, header):
    anon_api.credentials(HTTP_AUTHORIZATION=header)
    assert anon_api.get("/api/v1/accounts/").status_code == 401


def test_token_use_is_recorded(api, user):
    api.get("/api/v1/accounts/")
    assert user.api_tokens.get().last_used_at is not None


def test_session_auth_works_for_the_web_ui(web):
    AccountFactory(name="Acme")
    response = web.get("/api/v1/accounts/")
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["Acme"]


# --- Methods and error shapes -----------------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
def test_put_is_not_offered(api, resource):
    assert api.put(f"/api/v1/{resource}/1/", {}).status_code == 405


@pytest.mark.parametrize(
    ("resource", "method"),
    [
        ("deals", "delete"),
        ("renewals", "delete"),
        ("tasks", "delete"),
        ("orders", "patch"),
        ("orders", "delete"),
        ("events", "patch"),
        ("events", "delete"),
        ("activities", "patch"),
        ("activities", "delete"),
        ("pipeline-stages", "post"),
    ],
)
def test_methods_outside_the_contract_are_405(api, resource, method):
    DealFactory()  # something to point at; the method is refused before the lookup matters
    response = getattr(api, method)(f"/api/v1/{resource}/1/" if method != "post" else f"/api/v1/{resource}/")
    assert response.status_code == 405


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("pk", ["999999", "abc", "99999999999999999999999"])
def test_unknown_id_in_url_is_404(api, resource, pk):
    response = api.get(f"/api/v1/{resource}/{pk}/")
    assert response.status_code == 404
    assert "detail" in response.json()


@pytest.mark.parametrize("resource", ["accounts", "contacts", "deals", "orders", "events", "activities"])
def test_invalid_json_is_400(api, resource):
    response = api.post(f"/api/v1/{resource}/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_unknown_filter_value_is_400_not_500(api):
    response = api.get("/api/v1/contacts/", {"account": "99999999999999999999"})
    assert response.status_code == 400
    assert "account" in response.json()
    assert api.get("/api/v1/accounts/", {"signed_up_at_after": "yesterday-ish"}).status_code == 400


# --- Pagination -------------------------------------------------------------------------------


def test_lists_paginate_with_page_size(api):
    for index in range(5):
        AccountFactory(name=f"Acct {index}")
    first = api.get("/api/v1/accounts/", {"page_size": 2}).json()
    assert first["count"] == 5
    assert [row["name"] for row in first["results"]] == ["Acct 0", "Acct 1"]
    assert first["previous"] is None
    assert "page=2" in first["next"]
    last = api.get("/api/v1/accounts/", {"page_size": 2, "page": 3}).json()
    assert [row["name"] for row in last["results"]] == ["Acct 4"]
    assert last["next"] is None
    assert last["previous"] is not None
    assert api.get("/api/v1/accounts/", {"page_size": 2, "page": 9}).status_code == 404


def test_default_page_size_is_50(api):
    AccountFactory.create_batch(51)
    body = api.get("/api/v1/accounts/").json()
    assert body["count"] == 51
    assert len(body["results"]) == 50


# --- Accounts ---------------------------------------------------------------------------------


def test_account_create_retrieve_patch(api, user):
    payload = {
        "name": "Acme",
        "domain": "acme.test",
        "owner": user.pk,
        "plan": "growth",
        "seats": 25,
        "lifecycle_stage": "adopting",
        "signed_up_at": "2025-03-01T12:00:00Z",
        "acquisition_channel": "referral",
        "acquisition_cost": "350.00",
        "timezone": "America/Chicago",
        "attributes": {"industry": "retail"},
    }
    created = api.post("/api/v1/accounts/", payload)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert {key: body[key] for key in payload} == payload
    assert body["churned_at"] is None
    assert body["ae"] is None

    detail = api.get(f"/api/v1/accounts/{body['id']}/").json()
    assert detail["name"] == "Acme"

    patched = api.patch(f"/api/v1/accounts/{body['id']}/", {"lifecycle_stage": "at_risk", "seats": 30})
    assert patched.status_code == 200
    account = Account.objects.get(pk=body["id"])
    assert (account.lifecycle_stage, account.seats, account.plan) == ("at_risk", 30, "growth")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "X", "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"name": "X", "owner": 999999}, "owner"),
        ({"name": "X", "seats": -1}, "seats"),
        ({"name": "X", "acquisition_cost": "-5"}, "acquisition_cost"),
        ({"name": "X", "lifecycle_stage": "zombie"}, "lifecycle_stage"),
        ({"name": "X", "attributes": ["not", "an", "object"]}, "attributes"),
        ({"domain": "no-name.test"}, "name"),
    ],
)
def test_account_bad_input_names_the_field(api, payload, field):
    response = api.post("/api/v1/accounts/", payload)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Account.objects.exists()


def test_account_delete_keeps_contacts_and_drops_deals_and_renewals(api):
    account = AccountFactory()
    contact = ContactFactory(account=account)
    DealFactory(account=account)
    RenewalFactory(account=account)

    response = api.delete(f"/api/v1/accounts/{account.pk}/")

    assert response.status_code == 204
    assert not Account.objects.filter(pk=account.pk).exists()
    contact.refresh_from_db()
    assert contact.account_id is None
    assert not Deal.objects.exists()
    assert not Renewal.objects.exists()


@pytest.mark.parametrize("with_contact", [False, True])
def test_account_with_orders_cannot_be_deleted(api, with_contact):
    account = AccountFactory()
    contact = ContactFactory(account=account) if with_contact else None
    OrderFactory(contact=contact, account=account)
    OrderFactory(contact=contact, account=account)
    response = api.delete(f"/api/v1/accounts/{account.pk}/")
    assert response.status_code == 409
    assert "it still has 2 orders" in response.json()["detail"]
    assert Account.objects.filter(pk=account.pk).exists() and Order.objects.count() == 2


def test_account_filters_search_and_ordering(api):
    owner = UserFactory()
    now = timezone.now()
    AccountFactory(
        name="Acme",
        domain="acme.test",
        owner=owner,
        plan="enterprise",
        seats=50,
        lifecycle_stage="at_risk",
        acquisition_channel="sms",
        signed_up_at=now - timedelta(days=10),
    )
    AccountFactory(name="Globex", seats=5, lifecycle_stage="active", signed_up_at=now - timedelta(days=400))
    AccountFactory(
        name="Initech",
        seats=20,
        lifecycle_stage="churned",
        churned_at=now,
        signed_up_at=now - timedelta(days=20),
    )

    def names(**params):
        response = api.get("/api/v1/accounts/", params)
        assert response.status_code == 200, response.json()
        return [row["name"] for row in response.json()["results"]]

    assert names(owner=owner.pk) == ["Acme"]
    assert names(lifecycle_stage=["at_risk", "churned"]) == ["Acme", "Initech"]
    assert names(plan="ENTERPRISE") == ["Acme"]
    assert names(acquisition_channel="sms") == ["Acme"]
    assert names(signed_up_at_after=(now - timedelta(days=30)).isoformat()) == ["Acme", "Initech"]
    assert names(signed_up_at_before=(now - timedelta(days=300)).isoformat()) == ["Globex"]
    assert names(
        signed_up_at_after=(now - timedelta(days=15)).isoformat(),
        signed_up_at_before=(now - timedelta(days=5)).isoformat(),
    ) == ["Acme"]
    assert names(churned="true") == ["Initech"]
    assert names(search="acme.te") == ["Acme"]
    assert names(ordering="-seats") == ["Acme", "Initech", "Globex"]


# --- Contacts ---------------------------------------------------------------------------------


def test_contact_create_normalises_phone_and_email(api):
    account = AccountFactory(timezone="")
    response = api.post(
        "/api/v1/contacts/",
        {"account": account.pk, "first_name": "Ann", "email": "Ann@Example.COM", "phone": "(415) 555-2671"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["phone"] == "+14155552671"
    assert body["phone_raw"] == "(415) 555-2671"
    assert body["phone_valid"] is True
    assert body["email"] == "ann@example.com"
    assert body["timezone"] == "America/Los_Angeles"
    assert body["sms_consent"] == "unknown"
    assert "phone_region" not in body


def test_contact_phone_region_reads_national_numbers(api):
    response = api.post("/api/v1/contacts/", {"phone": "020 7946 0958", "phone_region": "gb"})
    assert response.status_code == 201, response.json()
    assert response.json()["phone"] == "+442079460958"
    assert response.json()["timezone"] == "Europe/London"


def test_contact_timezone_given_wins_over_the_phone(api):
    response = api.post("/api/v1/contacts/", {"phone": "+14155552671", "timezone": "America/Chicago"})
    assert response.json()["timezone"] == "America/Chicago"


def test_contact_sms_consent_is_read_only(api):
    response = api.post("/api/v1/contacts/", {"first_name": "Ann", "sms_consent": "opted_in"})
    assert response.status_code == 201
    assert Contact.objects.get().sms_consent == SmsConsent.UNKNOWN


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"phone": "abc"}, "phone"),
        ({"phone": "123"}, "phone"),
        ({"phone": "4155552671", "phone_region": "XX"}, "phone_region"),
        ({"phone_region": "ZZ"}, "phone_region"),
        ({"timezone": "Nowhere/City"}, "timezone"),
        ({"account": 999999}, "account"),
        ({"owner": 999999}, "owner"),
        ({"email": "not-an-email"}, "email"),
        ({"acquisition_channel": "pigeon"}, "acquisition_channel"),
    ],
)
def test_contact_bad_input_names_the_field(api, payload, field):
    response = api.post("/api/v1/contacts/", payload)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Contact.objects.exists()


def test_contact_duplicate_email_is_400_whatever_the_case(api):
    ContactFactory(email="a@x.com")
    response = api.post("/api/v1/contacts/", {"email": "A@X.com"})
    assert response.status_code == 400
    assert list(response.json()) == ["email"]
    assert Contact.objects.count() == 1


def test_contact_duplicate_phone_typed_differently_is_400(api):
    ContactFactory(phone="+14155552671", phone_raw="+14155552671")
    response = api.post("/api/v1/contacts/", {"phone": "(415) 555-2671"})
    assert response.status_code == 400
    assert list(response.json()) == ["phone"]


def test_contact_patch_phone_and_keep_own_email(api):
    contact = ContactFactory(email="ann@example.com")
    response = api.patch(
        f"/api/v1/contacts/{contact.pk}/", {"phone": "415.555.2671", "email": "ANN@example.com"}
    )
    assert response.status_code == 200, response.json()
    contact.refresh_from_db()
    assert (contact.phone, contact.phone_raw, contact.email) == (
        "+14155552671",
        "415.555.2671",
        "ann@example.com",
    )


def test_contact_patch_to_someone_elses_phone_is_400(api):
    ContactFactory(phone="+14155552671")
    contact = ContactFactory()
    response = api.patch(f"/api/v1/contacts/{contact.pk}/", {"phone": "1 (415) 555 2671"})
    assert response.status_code == 400
    assert list(response.json()) == ["phone"]


def test_contact_patch_blank_phone_clears_it(api):
    contact = ContactFactory()
    response = api.patch(f"/api/v1/contacts/{contact.pk}/", {"phone": ""})
    assert response.status_code == 200
    assert response.json()["phone"] is None
    contact.refresh_from_db()
    assert (contact.phone, contact.phone_raw, contact.phone_valid) == (None, "", False)


def test_contact_delete(api):
    contact = ContactFactory()
    assert api.delete(f"/api/v1/contacts/{contact.pk}/").status_code == 204
    assert not Contact.objects.exists()


def test_contact_with_orders_cannot_be_deleted(api):
    contact = ContactFactory()
    OrderFactory(contact=contact)
    response = api.delete(f"/api/v1/contacts/{contact.pk}/")
    assert response.status_code == 409
    assert "it still has 1 order," in response.json()["detail"]
    assert Contact.objects.exists()


def test_contact_filters_and_search(api):
    acme = AccountFactory()
    ann = ContactFactory(account=acme, last_name="Archer", email="ann@acme.test", sms_consent="opted_in")
    ContactFactory(last_name="Baker", phone_valid=False)
    ContactFactory(last_name="Carter", phone="+14155552671")

    def last_names(**params):
        response = api.get("/api/v1/contacts/", params)
        assert response.status_code == 200, response.json()
        return [row["last_name"] for row in response.json()["results"]]

    assert last_names(account=acme.pk) == ["Archer"]
    assert last_names(sms_consent="opted_in") == ["Archer"]
    assert last_names(phone_valid="false") == ["Baker"]
    assert last_names(email="ANN@acme.test") == ["Archer"]
    assert last_names(search="arch") == ["Archer"]
    assert last_names(search="+1415555") == ["Carter"]
    assert last_names(ordering="-last_name") == ["Carter", "Baker", "Archer"]
    assert ann.pk in {row["id"] for row in api.get("/api/v1/contacts/").json()["results"]}


def test_money_is_exact(api):
    account = AccountFactory(acquisition_cost=Decimal("0.10"))
    assert api.get(f"/api/v1/accounts/{account.pk}/").json()["acquisition_cost"] == "0.10"


def test_a_date_the_database_cannot_store_is_a_400_not_a_500(api):
    """Found by the API fuzzer on PostgreSQL: year 137 at UTC+23:58 passed the filter's parsing and
    the database refused it. Dates outside 1900-2200 are now refused before any query, on every
    database alike (core.dates)."""
    response = api.get("/api/v1/contacts/", {"created_at_after": "0137-08-10T17:35:55+23:58"})
    assert response.status_code == 400
    assert "1900-01-01 and 2200-12-31" in str(response.json()["created_at"])
