"""List pages stay fast with many accounts: the account filter lists every account only while
there are few (BoundedSelect.limit); past that only the chosen one, and it still filters by any
account."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.forms import BoundedSelect
from tests.factories import AccountFactory, ContactFactory, RenewalFactory


def account_options(html: str) -> list[str]:
    select = re.search(r'<select name="account".*?</select>', html, re.S).group(0)
    return re.findall(r"<option[^>]*>([^<]*)</option>", select)


@pytest.fixture
def accounts(db):
    return [AccountFactory(name=name) for name in ("Acme", "Globex", "Initech")]


def test_few_accounts_are_all_listed(web, accounts):
    html = web.get(reverse("contact_list")).content.decode()
    assert account_options(html) == ["Any account", "Acme", "Globex", "Initech"]


def test_past_the_limit_only_the_chosen_account_is_listed(web, accounts, monkeypatch):
    monkeypatch.setattr(BoundedSelect, "limit", 2)
    ContactFactory(first_name="Ann", last_name="A", account=accounts[2])
    ContactFactory(first_name="Bo", last_name="B", account=accounts[0])
    assert account_options(web.get(reverse("contact_list")).content.decode()) == ["Any account"]
    response = web.get(reverse("contact_list"), {"account": accounts[2].pk})
    html = response.content.decode()
    assert account_options(html) == ["Any account", "Initech"]
    assert f'<option value="{accounts[2].pk}" selected>Initech</option>' in html
    assert [str(c) for c in response.context["page_obj"]] == ["Ann A"]


def test_renewal_list_bounds_its_account_filter_too(web, accounts, monkeypatch):
    monkeypatch.setattr(BoundedSelect, "limit", 2)
    RenewalFactory(account=accounts[1], end_date=timezone.now().date() + timedelta(days=10))
    html = web.get(reverse("renewal_list"), {"account": accounts[1].pk}).content.decode()
    assert account_options(html) == ["Any account", "Globex"]


def test_many_accounts_add_no_queries(web, accounts, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(BoundedSelect, "limit", 2)
    AccountFactory.create_batch(5)
    with django_assert_max_num_queries(6):
        web.get(reverse("contact_list"))
