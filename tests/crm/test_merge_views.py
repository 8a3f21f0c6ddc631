"""Duplicates and merges in the UI, the API and the admin."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from crm.models import Account, Activity, ActivityKind, Contact, Order
from tests.factories import AccountFactory, ContactFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    acme = AccountFactory(name="Acme")
    first = ContactFactory(account=acme, first_name="Bob", last_name="Stone", email="bob@example.com")
    second = ContactFactory(account=acme, first_name="Bob", last_name="Stone", email="robert@example.com")
    OrderFactory(contact=second, account=acme)
    return first, second


# --- UI ----------------------------------------------------------------------------------------


def test_duplicates_page_lists_groups_with_merge_links_in_constant_queries(
    web, django_assert_max_num_queries
):
    for index in range(12):
        account = AccountFactory()
        ContactFactory(account=account, first_name="Sam", last_name=f"Twin{index}")
        ContactFactory(account=account, first_name="sam", last_name=f"TWIN{index}")
    with django_assert_max_num_queries(12):
        response = web.get(reverse("contact_duplicates"))
    html = response.content.decode()
    assert response.status_code == 200 and html.count('badge-warning">same name in the same account') == 12
    assert f"{reverse('contact_merge')}?survivor=" in html


def test_merge_page_shows_both_side_by_side_and_merges_with_the_chosen_values(web, user, pair):
    first, second = pair
    url = f"{reverse('contact_merge')}?survivor={first.pk}&other={second.pk}"
    page = web.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "bob@example.com" in html and "robert@example.com" in html
    assert "1 orders" in html  # the other contact's linked records
    assert 'name="email"' in html and 'name="first_name"' not in html  # same first name: nothing to choose
    response = web.post(url, {"survivor": str(first.pk), "email": str(second.pk), "phone": str(first.pk)})
    assert response.status_code == 302 and response["Location"] == first.get_absolute_url()
    first.refresh_from_db()
    assert first.email == "robert@example.com"
    assert not Contact.objects.filter(pk=second.pk).exists()
    assert Order.objects.get().contact == first
    assert Activity.objects.get(kind=ActivityKind.CONTACT_MERGED).actor == user


def test_the_merge_page_can_keep_the_other_record(web, pair):
    first, second = pair
    url = f"{reverse('contact_merge')}?survivor={first.pk}&other={second.pk}"
    web.post(url, {"survivor": str(second.pk), "email": str(first.pk), "phone": str(second.pk)})
    assert not Contact.objects.filter(pk=first.pk).exists()
    second.refresh_from_db()
    assert second.email == "bob@example.com"


def test_merge_page_refuses_bad_pairs(web, pair):
    first, _ = pair
    for query in (
        f"survivor={first.pk}&other={first.pk}",
        f"survivor={first.pk}&other=999999",
        "survivor=x&other=1",
    ):
        assert web.get(f"{reverse('contact_merge')}?{query}").status_code == 404


def test_account_merge_page(web):
    survivor, other = AccountFactory(name="Acme"), AccountFactory(name="Acme Inc")
    contact = ContactFactory(account=other)
    url = f"{reverse('account_merge')}?survivor={survivor.pk}&other={other.pk}"
    assert "1 contacts" in web.get(url).content.decode()
    response = web.post(
        url, {"survivor": str(survivor.pk), "name": str(other.pk), "domain": str(survivor.pk)}
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.account == survivor and Account.objects.get(pk=survivor.pk).name == "Acme Inc"


# --- API ---------------------------------------------------------------------------------------


def test_api_merge_moves_everything_and_takes_the_named_values(api, pair):
    first, second = pair
    response = api.post(
        f"/api/v1/contacts/{first.pk}/merge/", {"duplicate": second.pk, "use_duplicate_values": ["email"]}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["contact"]["id"] == first.pk and body["contact"]["email"] == "robert@example.com"
    assert body["merged"]["id"] == second.pk and body["moved"]["orders"] == 1
    assert not Contact.objects.filter(pk=second.pk).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "duplicate"),
        ({"duplicate": 999999}, "duplicate"),
        ({"duplicate": "abc"}, "duplicate"),
        ({"duplicate": "SELF"}, "duplicate"),
        ({"duplicate": "OTHER", "use_duplicate_values": ["shoe_size"]}, "use_duplicate_values"),
        ({"duplicate": "OTHER", "use_duplicate_values": "email"}, "use_duplicate_values"),
    ],
)
def test_api_merge_bad_input_answers_400_naming_the_field(api, pair, payload, field):
    first, second = pair
    payload = {
        k: {"SELF": first.pk, "OTHER": second.pk}.get(v, v) if k == "duplicate" else v
        for k, v in payload.items()
    }
    response = api.post(f"/api/v1/contacts/{first.pk}/merge/", payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert Contact.objects.count() == 2


def test_api_merge_of_an_unknown_contact_is_404_and_needs_auth(api, anon_api, pair):
    _, second = pair
    assert api.post("/api/v1/contacts/999999/merge/", {"duplicate": second.pk}).status_code == 404
    assert anon_api.post(f"/api/v1/contacts/{second.pk}/merge/", {"duplicate": second.pk}).status_code == 401


def test_api_duplicates_list_paginates_groups_in_constant_queries(api, django_assert_max_num_queries):
    for index in range(7):
        account = AccountFactory()
        ContactFactory(account=account, first_name="Sam", last_name=f"Twin{index}")
        ContactFactory(account=account, first_name="Sam", last_name=f"Twin{index}")
    with django_assert_max_num_queries(10):
        response = api.get("/api/v1/contacts/duplicates/", {"page_size": 5})
    body = response.json()
    assert response.status_code == 200 and body["count"] == 7 and len(body["results"]) == 5
    group = body["results"][0]
    assert group["rule"] == "name" and len(group["contacts"]) == 2 and body["next"]


def test_api_account_merge(api):
    survivor, other = AccountFactory(), AccountFactory(domain="acme.com")
    survivor.domain = ""
    survivor.save()
    ContactFactory(account=other)
    response = api.post(f"/api/v1/accounts/{survivor.pk}/merge/", {"duplicate": other.pk})
    assert response.status_code == 200, response.content
    assert response.json()["account"]["domain"] == "acme.com" and response.json()["moved"]["contacts"] == 1


# --- Admin -------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_admin_action_shows_the_choice_page_then_merges(admin_client, pair):
    first, second = pair
    url = reverse("admin:crm_contact_changelist")
    data = {"action": "merge_selected", ACTION_CHECKBOX_NAME: [first.pk, second.pk]}
    page = admin_client.post(url, data)
    assert page.status_code == 200 and "Record that stays" in page.content.decode()
    assert Contact.objects.count() == 2
    response = admin_client.post(
        url,
        {**data, "apply": "1", "survivor": str(second.pk), "email": str(second.pk), "phone": str(first.pk)},
    )
    assert response.status_code == 302
    assert list(Contact.objects.values_list("pk", flat=True)) == [second.pk]
    second.refresh_from_db()
    assert second.phone == first.phone


def test_admin_merge_needs_exactly_two(admin_client, pair):
    first, _ = pair
    url = reverse("admin:crm_contact_changelist")
    response = admin_client.post(
        url, {"action": "merge_selected", ACTION_CHECKBOX_NAME: [first.pk]}, follow=True
    )
    assert "Select exactly two records to merge." in response.content.decode()


def test_admin_account_merge_action(admin_client):
    survivor, other = AccountFactory(), AccountFactory()
    ContactFactory(account=other)
    url = reverse("admin:crm_account_changelist")
    data = {"action": "merge_selected", ACTION_CHECKBOX_NAME: [survivor.pk, other.pk]}
    response = admin_client.post(url, {**data, "apply": "1", "survivor": str(survivor.pk)})
    assert response.status_code == 302
    assert list(Account.objects.values_list("pk", flat=True)) == [survivor.pk]
