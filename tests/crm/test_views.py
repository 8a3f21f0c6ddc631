"""The CRM web UI: login, the layout, the dashboard and accounts."""

import re
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Account, Activity, ActivityKind, LifecycleStage, TaskStatus
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    DealFactory,
    RenewalFactory,
    TaskFactory,
    UserFactory,
    stage,
)

pytestmark = pytest.mark.django_db


def names_in(response) -> str:
    return response.content.decode()


# --- Access ---------------------------------------------------------------------------------


@pytest.fixture
def records(user):
    account = AccountFactory(owner=user)
    contact = ContactFactory(account=account)
    deal = DealFactory(account=account)
    renewal = RenewalFactory(account=account)
    task = TaskFactory(owner=user, account=account)
    return {"account": account, "contact": contact, "deal": deal, "renewal": renewal, "task": task}


def page_urls(records) -> list[str]:
    a, c, d, r, t = (records[k].pk for k in ("account", "contact", "deal", "renewal", "task"))
    return [
        reverse("dashboard"),
        reverse("account_list"),
        reverse("account_create"),
        reverse("account_detail", args=[a]),
        reverse("account_edit", args=[a]),
        reverse("contact_list"),
        reverse("contact_create"),
        reverse("contact_detail", args=[c]),
        reverse("contact_edit", args=[c]),
        reverse("deal_board"),
        reverse("deal_create"),
        reverse("deal_edit", args=[d]),
        reverse("renewal_list"),
        reverse("renewal_create"),
        reverse("renewal_edit", args=[r]),
        reverse("task_list"),
        reverse("task_create"),
        reverse("task_edit", args=[t]),
        reverse("api_tokens"),
    ]


def post_only_urls(records) -> list[str]:
    return [
        reverse("account_log_touch", args=[records["account"].pk]),
        reverse("contact_log_touch", args=[records["contact"].pk]),
        reverse("deal_move", args=[records["deal"].pk]),
        reverse("task_done", args=[records["task"].pk]),
        reverse("api_token_revoke", args=[1]),
    ]


def test_anonymous_users_are_sent_to_login_from_every_page(client, records):
    for url in page_urls(records) + post_only_urls(records):
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, url
            assert response.url.startswith(reverse("login") + "?next="), url


def test_anonymous_posts_change_nothing(client, records):
    client.post(reverse("task_done", args=[records["task"].pk]))
    client.post(reverse("deal_move", args=[records["deal"].pk]), {"stage": stage("closed-won").pk})
    records["task"].refresh_from_db()
    records["deal"].refresh_from_db()
    assert records["task"].status == TaskStatus.OPEN
    assert records["deal"].stage.slug == "qualification"


def test_every_page_renders_for_a_logged_in_user(web, records):
    for url in page_urls(records):
        response = web.get(url)
        assert response.status_code == 200, url


def test_unknown_records_are_404(web):
    for name in ("account_detail", "account_edit", "contact_detail", "contact_edit", "deal_edit"):
        assert web.get(reverse(name, args=[999999])).status_code == 404, name
    for name in ("renewal_edit", "task_edit"):
        assert web.get(reverse(name, args=[999999])).status_code == 404, name


# --- Login / logout -------------------------------------------------------------------------


def test_login_page_renders_styled_form(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    body = names_in(response)
    assert 'name="username"' in body and 'name="password"' in body
    assert "css/app.css" in body
    assert 'name="viewport"' in body


def test_login_with_correct_credentials_goes_to_dashboard(client, user):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-for-tests"})
    assert response.status_code == 302
    assert response.url == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200


def test_login_with_wrong_password_shows_an_error(client, user):
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in names_in(response)
    assert client.get(reverse("dashboard")).status_code == 302


def test_login_redirects_back_to_next(client, user):
    response = client.post(
        reverse("login") + "?next=/accounts/",
        {"username": "alice", "password": "pw-for-tests", "next": "/accounts/"},
    )
    assert response.url == "/accounts/"


def test_logout_is_a_post_form_in_the_nav(web):
    body = names_in(web.get(reverse("dashboard")))
    assert re.search(r'<form method="post" action="/logout/"', body)
    response = web.post(reverse("logout"))
    assert response.status_code == 302
    assert web.get(reverse("dashboard")).status_code == 302


# --- Layout ---------------------------------------------------------------------------------


class _AssetCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts: list[str | None] = []
        self.stylesheets: list[str] = []
        self.disabled_nav: list[str] = []
        self._in_disabled = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts.append(attrs.get("src"))
        if tag == "link":
            self.stylesheets.append(attrs.get("href") or "")
        if attrs.get("aria-disabled") == "true" and attrs.get("title") == "Coming soon":
            self._in_disabled = tag != "a"
            self.disabled_nav.append("")

    def handle_data(self, data):
        if self._in_disabled:
            self.disabled_nav[-1] += data.strip()

    def handle_endtag(self, tag):
        self._in_disabled = False


def test_no_page_loads_external_or_inline_scripts(web, client, records):
    responses = [web.get(url) for url in page_urls(records)]
    client.logout()
    responses.append(client.get(reverse("login")))
    for response in responses:
        assets = _AssetCollector()
        assets.feed(names_in(response))
        assert assets.scripts, "htmx and app.js are loaded"
        for src in assets.scripts:
            assert src is not None, "no inline <script> blocks"
            assert src.startswith("/static/"), src
        for href in assets.stylesheets:
            assert href.startswith("/static/"), href
        for url in [*assets.scripts, *assets.stylesheets]:
            assert "http://" not in url and "https://" not in url


def test_layout_loads_htmx_from_our_static_files(web):
    body = names_in(web.get(reverse("dashboard")))
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer>' in body
    assert '<script src="/static/js/app.js" defer>' in body


def test_nav_links_every_section(web):
    body = names_in(web.get(reverse("dashboard")))
    assets = _AssetCollector()
    assets.feed(body)
    assert assets.disabled_nav == []
    pages = (
        "inbox",
        "account_list",
        "contact_list",
        "deal_board",
        "renewal_list",
        "play_list",
        "analytics_dashboard",
        "api_tokens",
    )
    for name in pages:
        assert f'href="{reverse(name)}"' in body


def test_nav_shows_user_name_and_admin_link_only_for_staff(web, user):
    body = names_in(web.get(reverse("dashboard")))
    assert "Alice Owner" in body
    assert 'href="/admin/"' not in body
    user.is_staff = True
    user.save()
    assert 'href="/admin/"' in names_in(web.get(reverse("dashboard")))


def test_nav_marks_the_current_section(web):
    body = names_in(web.get(reverse("account_list")))
    assert '<a href="/accounts/" aria-current="page">Accounts</a>' in body


def test_flash_messages_are_shown(web, records):
    response = web.post(
        reverse("account_log_touch", args=[records["account"].pk]),
        {"kind": "call", "summary": "Quick call"},
        follow=True,
    )
    assert "Logged on the timeline." in names_in(response)


def test_user_data_is_escaped(web, user):
    account = AccountFactory(name="<script>alert(1)</script>", owner=user)
    body = names_in(web.get(reverse("account_detail", args=[account.pk])))
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# --- Dashboard ------------------------------------------------------------------------------


def test_dashboard_shows_real_numbers(web, user):
    DealFactory(amount=Decimal("10000"), stage=stage("qualification"))  # 10%
    DealFactory(amount=Decimal("20000"), stage=stage("proposal"))  # 50%
    DealFactory(amount=Decimal("333"), stage=stage("discovery"))  # 25%: 83.25, not truncated to 83
    DealFactory(amount=Decimal("99999"), stage=stage("closed-won"))  # not open
    today = timezone.localdate()
    RenewalFactory(
        start_date=today - timedelta(days=300), end_date=today + timedelta(days=30), acv=Decimal("5000")
    )
    RenewalFactory(
        start_date=today - timedelta(days=300), end_date=today + timedelta(days=80), acv=Decimal("7000")
    )
    RenewalFactory(start_date=today, end_date=today + timedelta(days=200), acv=Decimal("1"))  # later
    AccountFactory.create_batch(2, lifecycle_stage=LifecycleStage.AT_RISK)
    TaskFactory(owner=user, title="Call back Acme", due_at=timezone.now() - timedelta(days=1))
    TaskFactory(owner=user, title="Send the deck")
    TaskFactory(title="Someone else's task")
    ActivityFactory(summary="Discussed onboarding plan")

    response = web.get(reverse("dashboard"))
    dash = response.context["dash"]
    assert dash.open_pipeline == Decimal("30333")
    assert dash.weighted_pipeline == Decimal("11083.25")
    assert dash.renewals_due_count == 2
    assert dash.renewals_due_acv == Decimal("12000")
    assert {value: n for value, _, n in dash.accounts_by_stage}["at_risk"] == 2
    assert dash.my_open_task_count == 2
    assert dash.my_overdue_task_count == 1

    body = names_in(response)
    assert ">$30,333<" in body and ">$11,083<" in body and "$12,000 ARR" in body
    assert "Call back Acme" in body and "Send the deck" in body
    assert "Someone else&#x27;s task" not in body
    assert re.search(r'class="task-row is-overdue">\s*<div>\s*<a href="[^"]+">Call back Acme', body)
    assert "Discussed onboarding plan" in body


def test_dashboard_runs_a_constant_number_of_queries(web, user, django_assert_max_num_queries):
    def add(n):
        for _ in range(n):
            account = AccountFactory(owner=user)
            DealFactory(account=account)
            RenewalFactory(account=account)
            TaskFactory(owner=user, account=account)
            ActivityFactory(contact=ContactFactory(account=account))

    add(2)
    # Session and user, pipeline, renewals (figures and the soonest), stages, tasks (figures and
    # list), activity; the inbox and plays panels are requests of their own.
    with django_assert_max_num_queries(9):
        web.get(reverse("dashboard"))
    add(20)
    with django_assert_max_num_queries(9):
        web.get(reverse("dashboard"))


# --- Accounts -------------------------------------------------------------------------------


def test_account_list_shows_columns_and_contact_counts(web, user):
    acme = AccountFactory(name="Acme Corp", owner=user, plan="pro", seats=42)
    ContactFactory.create_batch(3, account=acme)
    AccountFactory(name="Globex")
    response = web.get(reverse("account_list"))
    body = names_in(response)
    assert "Acme Corp" in body and "Globex" in body
    row = next(a for a in response.context["page_obj"] if a.pk == acme.pk)
    assert row.contacts_count == 3
    assert "Alice Owner" in body and "pro" in body and "42" in body
    assert "badge-stage-onboarding" in body


def test_account_list_search_matches_name_or_domain(web):
    AccountFactory(name="Acme Corp", domain="acme.test")
    AccountFactory(name="Globex", domain="globex.test")
    AccountFactory(name="Initech", domain="acme-partner.test")
    body = names_in(web.get(reverse("account_list"), {"q": "acme"}))
    assert "Acme Corp" in body and "Initech" in body
    assert "Globex" not in body


def test_account_list_filters_by_stage_owner_and_plan(web, user):
    bob = UserFactory(username="bob", first_name="Bob", last_name="Builder")
    AccountFactory(name="Alpha", owner=user, plan="pro", lifecycle_stage=LifecycleStage.AT_RISK)
    AccountFactory(name="Bravo", owner=bob, plan="pro", lifecycle_stage=LifecycleStage.ACTIVE)
    AccountFactory(name="Charlie", owner=bob, plan="starter", lifecycle_stage=LifecycleStage.AT_RISK)

    def shown(**params):
        return {a.name for a in web.get(reverse("account_list"), params).context["page_obj"]}

    assert shown(stage="at_risk") == {"Alpha", "Charlie"}
    assert shown(owner=bob.pk) == {"Bravo", "Charlie"}
    assert shown(plan="starter") == {"Charlie"}
    assert shown(owner=bob.pk, stage="at_risk") == {"Charlie"}
    assert shown(owner="not-a-user") == {"Alpha", "Bravo", "Charlie"}  # bad filter ignored, no 500


def test_account_list_paginates_50_per_page_and_keeps_filters(web, user):
    AccountFactory.create_batch(55, owner=user, plan="pro")
    AccountFactory(owner=user, plan="starter")
    first = web.get(reverse("account_list"), {"plan": "pro"})
    assert len(first.context["page_obj"]) == 50
    assert first.context["page_obj"].paginator.count == 55
    assert 'href="?plan=pro&amp;page=2"' in names_in(first)
    second = web.get(reverse("account_list"), {"plan": "pro", "page": 2})
    assert len(second.context["page_obj"]) == 5
    assert web.get(reverse("account_list"), {"page": "nope"}).status_code == 200


def test_account_list_runs_a_constant_number_of_queries(web, django_assert_max_num_queries):
    def add(n):
        for account in AccountFactory.create_batch(n):
            ContactFactory.create_batch(2, account=account)

    add(3)
    with django_assert_max_num_queries(7):  # 6 + the custom fields
        web.get(reverse("account_list"))
    add(27)
    with django_assert_max_num_queries(7):  # 6 + the custom fields
        web.get(reverse("account_list"))


def test_account_detail_shows_related_records_and_timeline(web, user):
    account = AccountFactory(name="Acme Corp", owner=user)
    ContactFactory(account=account, first_name="Carla", last_name="Contact")
    DealFactory(account=account, name="Acme expansion")
    RenewalFactory(account=account, acv=Decimal("24000"))
    TaskFactory(account=account, title="Prepare QBR")
    TaskFactory(account=account, title="Old thing", status=TaskStatus.DONE)
    ActivityFactory(contact__account=account, account=account, summary="Kickoff call went well")
    other = AccountFactory(name="Other Co")
    ActivityFactory(contact__account=other, account=other, summary="Not this account")

    body = names_in(web.get(reverse("account_detail", args=[account.pk])))
    for text in ("Carla Contact", "Acme expansion", "24,000", "Prepare QBR", "Kickoff call went well"):
        assert text in body, text
    assert "Old thing" not in body
    assert "Not this account" not in body
    assert f"{reverse('task_create')}?account={account.pk}" in body


def test_account_timeline_shows_the_most_recent_50(web):
    account = AccountFactory()
    now = timezone.now()
    Activity.objects.bulk_create(
        Activity(
            account=account,
            kind=ActivityKind.NOTE,
            summary=f"note #{i}",
            occurred_at=now - timedelta(hours=i),
        )
        for i in range(60)
    )
    body = names_in(web.get(reverse("account_detail", args=[account.pk])))
    assert "note #0<" in body and "note #49<" in body
    assert "note #50<" not in body


def test_account_detail_runs_a_constant_number_of_queries(web, django_assert_max_num_queries):
    account = AccountFactory()

    def add(n):
        for _ in range(n):
            contact = ContactFactory(account=account)
            DealFactory(account=account, contact=contact)
            RenewalFactory(account=account)
            TaskFactory(account=account, contact=contact)
            ActivityFactory(contact=contact, account=account)

    add(2)
    with django_assert_max_num_queries(9):  # 8 + the custom fields
        web.get(reverse("account_detail", args=[account.pk]))
    add(20)
    with django_assert_max_num_queries(9):  # 8 + the custom fields
        web.get(reverse("account_detail", args=[account.pk]))


def test_log_a_touch_on_an_account_writes_the_timeline(web, user):
    account = AccountFactory()
    response = web.post(
        reverse("account_log_touch", args=[account.pk]), {"kind": "meeting", "summary": "QBR with the team"}
    )
    assert response.status_code == 302
    entry = account.activities.get()
    assert (entry.kind, entry.summary, entry.actor) == ("meeting", "QBR with the team", user)


def test_log_a_touch_rejects_system_kinds_and_empty_summary(web):
    account = AccountFactory()
    response = web.post(reverse("account_log_touch", args=[account.pk]), {"kind": "sms_sent", "summary": ""})
    assert response.status_code == 200
    form = response.context["touch_form"]
    assert "kind" in form.errors and "summary" in form.errors
    assert not account.activities.exists()


def test_account_create(web, user):
    response = web.post(
        reverse("account_create"),
        {
            "name": "Acme Corp",
            "domain": "acme.test",
            "owner": user.pk,
            "plan": "pro",
            "seats": "12",
            "lifecycle_stage": "onboarding",
            "signed_up_at": "2025-01-15T09:30",
            "acquisition_channel": "referral",
            "acquisition_cost": "350.00",
            "timezone": "Europe/Berlin",
        },
    )
    account = Account.objects.get(name="Acme Corp")
    assert response.status_code == 302
    assert response.url == reverse("account_detail", args=[account.pk])
    assert (account.owner, account.seats, account.acquisition_cost) == (user, 12, Decimal("350.00"))
    assert account.timezone == "Europe/Berlin"


def test_account_form_shows_field_errors(web):
    response = web.post(
        reverse("account_create"),
        {"name": "", "seats": "-1", "lifecycle_stage": "onboarding", "signed_up_at": "2025-01-15T09:30",
         "acquisition_channel": "other", "acquisition_cost": "-5"},
    )  # fmt: skip
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) >= {"name", "seats"}
    assert not Account.objects.exists()
    response = web.post(
        reverse("account_create"),
        {"name": "Acme", "seats": "1", "lifecycle_stage": "onboarding", "signed_up_at": "2025-01-15T09:30",
         "acquisition_channel": "other", "acquisition_cost": "-5"},
    )  # fmt: skip
    assert "acquisition_cost" in response.context["form"].errors
    assert "field-error" in names_in(response)


def test_account_edit(web, user):
    account = AccountFactory(name="Old name", lifecycle_stage=LifecycleStage.ACTIVE)
    page = web.get(reverse("account_edit", args=[account.pk]))
    assert 'value="Old name"' in names_in(page)
    data = {
        "name": "New name",
        "domain": account.domain,
        "owner": user.pk,
        "plan": "growth",
        "seats": "30",
        "lifecycle_stage": "at_risk",
        "signed_up_at": "2024-05-01T00:00",
        "acquisition_channel": "other",
        "timezone": "",
    }
    response = web.post(reverse("account_edit", args=[account.pk]), data)
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.lifecycle_stage, account.seats) == ("New name", "at_risk", 30)


# --- Duplicate warning on a new account (issue 20) ------------------------------------------


@pytest.mark.parametrize(
    ("name", "domain"), [("acme corp", ""), ("Something else", "ACME.example"), ("Other", "www.acme.example")]
)
def test_a_likely_duplicate_account_is_shown_before_it_is_created(web, name, domain):
    from crm.models import Account

    existing = AccountFactory(name="Acme Corp", domain="acme.example")
    data = {
        "name": name,
        "domain": domain,
        "lifecycle_stage": "onboarding",
        "acquisition_channel": "other",
        "seats": 0,
        "signed_up_at": "2026-01-01T00:00",
    }
    response = web.post(reverse("account_create"), data)
    assert response.status_code == 200
    assert "This account may already exist" in response.content.decode()
    assert response.context["duplicates"] == [existing]
    assert Account.objects.count() == 1
    response = web.post(reverse("account_create"), {**data, "create_anyway": "1"})
    assert response.status_code == 302 and Account.objects.count() == 2


def test_a_new_name_and_domain_is_created_without_a_warning(web):
    from crm.models import Account

    AccountFactory(name="Acme Corp", domain="acme.example")
    data = {
        "name": "Globex",
        "domain": "globex.example",
        "lifecycle_stage": "onboarding",
        "acquisition_channel": "other",
        "seats": 0,
        "signed_up_at": "2026-01-01T00:00",
    }
    assert web.post(reverse("account_create"), data).status_code == 302
    assert Account.objects.filter(name="Globex").exists()
