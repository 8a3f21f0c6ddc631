"""List pages (issue 20): sortable columns (a whitelist of indexed orderings, stable by id),
chosen columns, saved views (own and shared) and bulk actions done as one set-based call."""

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import Account, Contact, LifecycleStage, SavedView
from tests.factories import AccountFactory, ContactFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db


def names(response):
    return [c.last_name for c in response.context["page_obj"]]


@pytest.fixture
def people(user):
    return [
        ContactFactory(first_name="A", last_name="Cole", email="zed@x.example"),
        ContactFactory(first_name="B", last_name="Adams", email="mia@x.example"),
        ContactFactory(first_name="C", last_name="Baker", email="al@x.example"),
    ]


def test_columns_sort_both_ways_and_unknown_sorts_are_ignored(web, people):
    assert names(web.get(reverse("contact_list"))) == ["Adams", "Baker", "Cole"]
    assert names(web.get(reverse("contact_list"), {"sort": "-name"})) == ["Cole", "Baker", "Adams"]
    assert names(web.get(reverse("contact_list"), {"sort": "email"})) == ["Baker", "Adams", "Cole"]
    assert names(web.get(reverse("contact_list"), {"sort": "created"})) == ["Cole", "Adams", "Baker"]
    assert names(web.get(reverse("contact_list"), {"sort": "-created"})) == ["Baker", "Adams", "Cole"]
    # Not whitelisted (no index behind it, or not a column): the default order, no error.
    assert names(web.get(reverse("contact_list"), {"sort": "phone_raw"})) == ["Adams", "Baker", "Cole"]


def test_equal_values_keep_a_stable_order_across_pages(web):
    same = [ContactFactory(first_name="Sam", last_name="Same") for _ in range(60)]
    first = [c.pk for c in web.get(reverse("contact_list"), {"sort": "-name"}).context["page_obj"]]
    second = [
        c.pk for c in web.get(reverse("contact_list"), {"sort": "-name", "page": 2}).context["page_obj"]
    ]
    assert first + second == sorted((c.pk for c in same), reverse=True)


def test_the_header_links_toggle_and_keep_the_filters(web, people):
    body = web.get(reverse("contact_list"), {"q": "a", "sort": "name"}).content.decode()
    assert 'aria-sort="ascending"><a href="?q=a&amp;sort=-name"' in body
    assert 'href="?q=a&amp;sort=email"' in body


def test_chosen_columns_are_shown(web, people):
    body = web.get(reverse("contact_list"), {"columns": ["email", "created"]}).content.decode()
    assert "zed@x.example" in body and ">Added" in body
    assert ">SMS consent</th>" not in body and ">Account</th>" not in body


def test_a_saved_view_keeps_filters_sort_and_columns_and_can_be_shared(web, user, people):
    query = "q=a&sort=-name&columns=email&page=3&evil=1"
    response = web.post(
        reverse("saved_view_save", args=["contacts"]), {"name": "A people", "query": query, "shared": "on"}
    )
    view = SavedView.objects.get()
    assert (view.owner, view.list_name, view.query, view.shared) == (
        user,
        "contacts",
        "q=a&sort=-name&columns=email",
        True,
    )
    assert response.status_code == 302 and response.url == f"/contacts/?{view.query}&view={view.pk}"
    # Saving the same name again overwrites it.
    web.post(reverse("saved_view_save", args=["contacts"]), {"name": "A people", "query": "sort=email"})
    view.refresh_from_db()
    assert (view.query, view.shared, SavedView.objects.count()) == ("sort=email", False, 1)
    web.post(reverse("saved_view_save", args=["contacts"]), {"name": "Team", "query": "q=b", "shared": "on"})

    bob = UserFactory(username="bob")
    client = Client()
    client.force_login(bob)
    views = [v.name for v in client.get(reverse("contact_list")).context["saved_views"]]
    assert views == ["Team"]  # the team's shared views, not alice's own
    team = SavedView.objects.get(name="Team")
    assert client.post(reverse("saved_view_delete", args=[team.pk])).status_code == 403
    assert web.post(reverse("saved_view_delete", args=[team.pk])).status_code == 302
    assert not SavedView.objects.filter(pk=team.pk).exists()


def test_saving_a_view_needs_a_name_and_a_known_list(web):
    assert (
        web.post(reverse("saved_view_save", args=["contacts"]), {"name": "", "query": ""}).status_code == 400
    )
    assert web.post(reverse("saved_view_save", args=["secrets"]), {"name": "x"}).status_code == 404


def test_bulk_assign_owner_is_one_update(web, user, people, django_assert_max_num_queries):
    bob = UserFactory(username="bob")
    ids = [c.pk for c in people[:2]]
    # session, user, the owner's validation, then one UPDATE (plus the transaction's savepoints)
    with django_assert_max_num_queries(7):
        response = web.post(
            reverse("contacts_bulk"),
            {"ids": ids, "action": "assign_owner", "owner": bob.pk, "next": "/contacts/?q=a"},
        )
    assert response.status_code == 302 and response.url == "/contacts/?q=a"
    assert set(Contact.objects.filter(owner=bob).values_list("pk", flat=True)) == set(ids)
    assert Contact.objects.get(pk=people[2].pk).owner != bob


def test_bulk_delete_asks_first_then_deletes_all_but_those_with_orders(web, people):
    OrderFactory(contact=people[0], account=people[0].account)
    ids = [c.pk for c in people]
    confirm = web.post(reverse("contacts_bulk"), {"ids": ids, "action": "delete"})
    assert confirm.status_code == 200 and b"Delete 3 contacts?" in confirm.content
    assert Contact.objects.count() == 3
    done = web.post(reverse("contacts_bulk"), {"ids": ids, "action": "delete", "confirm": "on"}, follow=True)
    assert list(Contact.objects.values_list("pk", flat=True)) == [people[0].pk]
    assert "2 contacts deleted. 1 with orders kept" in done.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"action": "delete"},
        {"ids": ["x"], "action": "delete"},
        {"ids": [1], "action": "explode"},
        {"ids": [1], "action": "assign_owner", "owner": 99999},
    ],
)
def test_bad_bulk_requests_say_why(web, data):
    response = web.post(reverse("contacts_bulk"), data, follow=True)
    assert response.status_code == 200
    assert response.context["messages"] and any(m.level_tag == "error" for m in response.context["messages"])


def test_bulk_account_stage_and_owner(web, user):
    accounts = [AccountFactory(lifecycle_stage="onboarding") for _ in range(3)]
    ids = [a.pk for a in accounts[:2]]
    web.post(reverse("accounts_bulk"), {"ids": ids, "action": "set_stage", "stage": "at_risk"})
    assert set(
        Account.objects.filter(lifecycle_stage=LifecycleStage.AT_RISK).values_list("pk", flat=True)
    ) == set(ids)
    web.post(reverse("accounts_bulk"), {"ids": ids, "action": "assign_owner", "owner": user.pk})
    assert Account.objects.filter(owner=user).count() == 2
    response = web.post(
        reverse("accounts_bulk"), {"ids": ids, "action": "set_stage", "stage": "nope"}, follow=True
    )
    assert any(m.level_tag == "error" for m in response.context["messages"])


def test_the_list_stays_constant_in_queries(web, user, django_assert_max_num_queries):
    SavedView.objects.create(owner=user, list_name="contacts", name="v1", query="sort=email")
    for _ in range(3):
        ContactFactory()
    # 7, plus the custom field definitions, the page's tags (one prefetch) and the tag names.
    with django_assert_max_num_queries(10):
        web.get(reverse("contact_list"), {"sort": "-created", "columns": ["email", "owner"]})
    ContactFactory.create_batch(30)
    SavedView.objects.create(owner=user, list_name="contacts", name="v2", query="")
    with django_assert_max_num_queries(10):
        web.get(reverse("contact_list"), {"sort": "-created", "columns": ["email", "owner"]})


def test_accounts_sort_and_save_views_too(web, user):
    AccountFactory(name="beta", signed_up_at="2025-01-01T00:00:00Z")
    AccountFactory(name="Alpha", signed_up_at="2025-06-01T00:00:00Z")
    AccountFactory(name="Gamma", signed_up_at="2024-01-01T00:00:00Z")

    def account_names(**params):
        return [a.name for a in web.get(reverse("account_list"), params).context["page_obj"]]

    assert account_names() == ["Alpha", "beta", "Gamma"]  # case-insensitive, from the Lower(name) index
    assert account_names(sort="-name") == ["Gamma", "beta", "Alpha"]
    assert account_names(sort="signed_up") == ["Gamma", "beta", "Alpha"]
    body = web.get(reverse("account_list")).content.decode()
    assert 'aria-sort="ascending"' in body and 'name="ids"' in body
    web.post(reverse("saved_view_save", args=["accounts"]), {"name": "Newest", "query": "sort=-signed_up"})
    assert SavedView.objects.get(list_name="accounts").query == "sort=-signed_up"
