"""Record fields are searchable pickers (issue 20): forms and list filters render only the chosen
record, whatever the number of accounts or contacts, and offer matches as you type; the account
filter on Contacts and Renewals finds any account (it used to be an empty dropdown past 200)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import AccountFactory, ContactFactory, RenewalFactory, UserFactory


def picker(html: str, name: str) -> dict:
    """The hidden value and the visible label of the picker for field ``name``."""
    block = re.search(rf'<div class="picker"[^>]*>\s*<input type="hidden" name="{name}".*?</div>', html, re.S)
    assert block, f"no picker for {name}"
    value = re.search(rf'name="{name}" value="([^"]*)"', block.group(0)).group(1)
    label = re.search(r'type="search"[^>]*value="([^"]*)"', block.group(0)).group(1)
    return {"value": value, "label": label, "html": block.group(0)}


@pytest.fixture
def accounts(db):
    return [AccountFactory(name=name) for name in ("Acme", "Globex", "Initech")]


def test_the_account_filter_is_a_picker_with_no_options_listed(web, accounts):
    html = web.get(reverse("contact_list")).content.decode()
    found = picker(html, "account")
    assert found == {**found, "value": "", "label": ""}
    assert "<option" not in found["html"]
    assert 'data-picker-url="/pick/account/"' in found["html"]


def test_a_chosen_account_shows_its_name_and_filters(web, accounts):
    ContactFactory(first_name="Ann", last_name="A", account=accounts[2])
    ContactFactory(first_name="Bo", last_name="B", account=accounts[0])
    response = web.get(reverse("contact_list"), {"account": accounts[2].pk})
    found = picker(response.content.decode(), "account")
    assert (found["value"], found["label"]) == (str(accounts[2].pk), "Initech")
    assert [str(c) for c in response.context["page_obj"]] == ["Ann A"]


def test_renewal_list_filters_by_any_account_too(web, accounts):
    RenewalFactory(account=accounts[1], end_date=timezone.now().date() + timedelta(days=10))
    RenewalFactory(account=accounts[0], end_date=timezone.now().date() + timedelta(days=10))
    response = web.get(reverse("renewal_list"), {"account": accounts[1].pk})
    assert picker(response.content.decode(), "account")["label"] == "Globex"
    assert [r.account for r in response.context["page_obj"]] == [accounts[1]]


def test_the_picker_lists_matches_as_you_type(web, accounts):
    AccountFactory(name="Acme Rockets", domain="rockets.example")
    html = web.get(reverse("record_pick", args=["account"]), {"q": "acme"}).content.decode()
    assert re.findall(r'data-pick-label="([^"]*)"', html) == ["Acme", "Acme Rockets"]
    html = web.get(reverse("record_pick", args=["account"]), {"q": "rockets.exa"}).content.decode()
    assert re.findall(r'data-pick-label="([^"]*)"', html) == ["Acme Rockets"]
    assert "No matches" in web.get(reverse("record_pick", args=["account"]), {"q": "zzz"}).content.decode()


def test_contact_and_user_pickers(web, accounts):
    dana = ContactFactory(first_name="Dana", last_name="Reyes", account=accounts[0], phone="+14155552671")
    UserFactory(username="bob", first_name="Bob", last_name="Builder")
    html = web.get(reverse("record_pick", args=["contact"]), {"q": "(415) 555-2671"}).content.decode()
    assert f'data-pick-value="{dana.pk}" data-pick-label="Dana Reyes (Acme)"' in html
    html = web.get(reverse("record_pick", args=["user"]), {"q": "build"}).content.decode()
    assert re.findall(r'data-pick-label="([^"]*)"', html) == ["Bob Builder"]


def test_an_unknown_picker_is_404(web):
    assert web.get("/pick/secrets/", {"q": "a"}).status_code == 404


def test_pickers_answer_in_one_query_whatever_the_number_of_records(web, django_assert_max_num_queries):
    for n in range(30):
        ContactFactory(first_name="Morgan", last_name=f"M{n}")
    for kind in ("account", "contact", "user"):
        with django_assert_max_num_queries(3):  # session, user, the matches
            response = web.get(reverse("record_pick", args=[kind]), {"q": ""})
        assert response.status_code == 200
    assert response.content.decode().count("data-pick-value") == 10


def test_many_accounts_and_contacts_add_no_queries_or_options(web, accounts, django_assert_max_num_queries):
    AccountFactory.create_batch(5)
    ContactFactory.create_batch(5)
    with django_assert_max_num_queries(9):  # 6 + the custom fields, the page's tags, the tag names
        html = web.get(reverse("contact_list")).content.decode()
    assert "<option" not in picker(html, "account")["html"]
    with django_assert_max_num_queries(8):
        html = web.get(reverse("task_create")).content.decode()
    for name in ("owner", "account", "contact"):
        assert "<option" not in picker(html, name)["html"]


def test_a_task_form_saves_the_picked_records(web, user, accounts):
    dana = ContactFactory(first_name="Dana", account=accounts[0])
    response = web.post(
        reverse("task_create"),
        {"title": "Call Dana", "owner": user.pk, "account": accounts[0].pk, "contact": dana.pk},
    )
    assert response.status_code == 302
    task = dana.tasks.get()
    assert (task.owner, task.account, task.title) == (user, accounts[0], "Call Dana")
    edit = web.get(reverse("task_edit", args=[task.pk])).content.decode()
    assert picker(edit, "contact")["label"] == f"{dana} (Acme)"


def test_a_picked_id_that_does_not_exist_is_a_form_error(web, accounts):
    response = web.post(reverse("task_create"), {"title": "x", "account": 999999})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
