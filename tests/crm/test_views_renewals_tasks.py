"""Renewals due list and forms; tasks: my tasks, create/edit, done."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import ActivityKind, Renewal, RenewalStatus, Task, TaskStatus
from tests.factories import AccountFactory, ContactFactory, RenewalFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def ending_in(days: int, **kwargs) -> Renewal:
    today = timezone.localdate()
    end = today + timedelta(days=days)
    return RenewalFactory(start_date=end - timedelta(days=365), end_date=end, **kwargs)


def accounts_shown(web, **params) -> list[str]:
    return [r.account.name for r in web.get(reverse("renewal_list"), params).context["page_obj"]]


# --- Renewals -------------------------------------------------------------------------------


def test_renewal_list_defaults_to_undecided_renewals_due_in_90_days_by_end_date(web):
    ending_in(60, account=AccountFactory(name="Sixty"))
    ending_in(10, account=AccountFactory(name="Ten"))
    ending_in(-5, account=AccountFactory(name="Overdue"))
    ending_in(120, account=AccountFactory(name="Later"))
    ending_in(
        20, account=AccountFactory(name="Decided"), status=RenewalStatus.RENEWED, renewed_acv=Decimal("1")
    )
    response = web.get(reverse("renewal_list"))
    assert [r.account.name for r in response.context["page_obj"]] == ["Overdue", "Ten", "Sixty"]
    body = response.content.decode()
    assert "overdue" in body and ">60<" in body.replace(" ", "").replace("\n", "")


def test_renewal_list_due_window_filter(web):
    ending_in(10, account=AccountFactory(name="Ten"))
    ending_in(45, account=AccountFactory(name="FortyFive"))
    ending_in(75, account=AccountFactory(name="SeventyFive"))
    ending_in(200, account=AccountFactory(name="TwoHundred"))
    assert accounts_shown(web, due="30", status="upcoming") == ["Ten"]
    assert accounts_shown(web, due="60", status="upcoming") == ["Ten", "FortyFive"]
    assert accounts_shown(web, due="90", status="upcoming") == ["Ten", "FortyFive", "SeventyFive"]
    assert accounts_shown(web, due="all", status="upcoming") == [
        "Ten",
        "FortyFive",
        "SeventyFive",
        "TwoHundred",
    ]


def test_renewal_list_status_and_account_filters(web):
    acme = AccountFactory(name="Acme")
    ending_in(10, account=acme)
    ending_in(20, account=AccountFactory(name="Churner"), status=RenewalStatus.CHURNED)
    ending_in(
        30, account=AccountFactory(name="Grower"), status=RenewalStatus.EXPANDED, renewed_acv=Decimal("9")
    )
    assert accounts_shown(web, due="all", status="churned") == ["Churner"]
    assert accounts_shown(web, due="all", status="") == ["Acme", "Churner", "Grower"]
    assert accounts_shown(web, due="all", status="", account=acme.pk) == ["Acme"]


def test_renewal_list_shows_acv_and_days_left(web):
    ending_in(12, account=AccountFactory(name="Acme"), acv=Decimal("24000"))
    body = web.get(reverse("renewal_list")).content.decode()
    assert "Acme" in body and "24,000" in body
    assert 'badge-warning">12<' in body


def test_renewal_list_paginates_and_keeps_filters(web):
    for i in range(51):
        ending_in(1 + i % 25)
    first = web.get(reverse("renewal_list"), {"due": "30", "status": "upcoming"})
    assert len(first.context["page_obj"]) == 50
    assert 'href="?due=30&amp;status=upcoming&amp;page=2"' in first.content.decode()


def test_renewal_list_runs_a_constant_number_of_queries(web, django_assert_max_num_queries):
    def add(n):
        for i in range(n):
            ending_in(1 + i, account=AccountFactory(owner=UserFactory()))

    add(3)
    with django_assert_max_num_queries(5):
        web.get(reverse("renewal_list"))
    add(30)
    with django_assert_max_num_queries(5):
        web.get(reverse("renewal_list"))


def renewal_data(account, **overrides) -> dict:
    return {
        "account": account.pk,
        "start_date": "2025-01-01",
        "end_date": "2026-01-01",
        "acv": "12000",
        "status": "upcoming",
        "renewed_acv": "",
        **overrides,
    }


def test_renewal_create(web):
    account = AccountFactory()
    response = web.post(reverse("renewal_create"), renewal_data(account))
    assert response.status_code == 302
    renewal = Renewal.objects.get()
    assert (renewal.account, renewal.acv, renewal.status) == (account, Decimal("12000"), "upcoming")


def test_renewal_create_with_end_before_start_shows_a_field_error(web):
    account = AccountFactory()
    response = web.post(reverse("renewal_create"), renewal_data(account, end_date="2024-06-01"))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["end_date"] == ["The term must end after it starts."]
    assert "Constraint" not in response.content.decode()
    assert not Renewal.objects.exists()


def test_renewal_decided_without_renewed_acv_shows_a_field_error(web):
    account = AccountFactory()
    response = web.post(reverse("renewal_create"), renewal_data(account, status="renewed"))
    assert response.status_code == 200
    assert response.context["form"].errors["renewed_acv"] == ["Enter the renewed ACV for a decided renewal."]


def test_renewal_edit_records_the_decision(web, user):
    renewal = ending_in(10)
    response = web.post(
        reverse("renewal_edit", args=[renewal.pk]),
        renewal_data(
            renewal.account,
            start_date=renewal.start_date.isoformat(),
            end_date=renewal.end_date.isoformat(),
            status="expanded",
            renewed_acv="15000",
        ),
    )
    assert response.status_code == 302
    renewal.refresh_from_db()
    assert (renewal.status, renewal.renewed_acv) == ("expanded", Decimal("15000"))
    assert renewal.decided_at is not None
    assert renewal.account.activities.filter(kind=ActivityKind.RENEWAL_DECISION, actor=user).exists()


# --- Tasks ----------------------------------------------------------------------------------


def test_my_tasks_lists_only_my_open_tasks_overdue_highlighted(web, user):
    TaskFactory(owner=user, title="Overdue call", due_at=timezone.now() - timedelta(days=2))
    TaskFactory(owner=user, title="Future call")
    TaskFactory(owner=user, title="Finished", status=TaskStatus.DONE)
    TaskFactory(title="Not mine")
    response = web.get(reverse("task_list"))
    assert [t.title for t in response.context["page_obj"]] == ["Overdue call", "Future call"]
    body = response.content.decode()
    assert "Not mine" not in body and "Finished" not in body
    assert "task-row is-overdue" in body


def test_done_tab_lists_completed_tasks(web, user):
    TaskFactory(owner=user, title="Finished", status=TaskStatus.DONE, completed_at=timezone.now())
    TaskFactory(owner=user, title="Still open")
    titles = [t.title for t in web.get(reverse("task_list"), {"show": "done"}).context["page_obj"]]
    assert titles == ["Finished"]


def test_task_done_is_one_click_post(web, user):
    task = TaskFactory(owner=user)
    assert web.get(reverse("task_done", args=[task.pk])).status_code == 405
    response = web.post(reverse("task_done", args=[task.pk]))
    assert response.status_code == 302 and response.url == reverse("task_list")
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and task.completed_at is not None


def test_task_done_returns_to_a_local_next_only(web, user):
    task = TaskFactory(owner=user)
    response = web.post(reverse("task_done", args=[task.pk]), {"next": "https://evil.example/"})
    assert response.url == reverse("task_list")
    other = TaskFactory(owner=user)
    response = web.post(reverse("task_done", args=[other.pk]), {"next": "/accounts/"})
    assert response.url == "/accounts/"


def test_task_list_runs_a_constant_number_of_queries(web, user, django_assert_max_num_queries):
    def add(n):
        for _ in range(n):
            TaskFactory(owner=user, contact=ContactFactory())

    add(3)
    # session, user, the assignee choices (a manager), count, page
    with django_assert_max_num_queries(5):
        web.get(reverse("task_list"))
    add(30)
    with django_assert_max_num_queries(5):
        web.get(reverse("task_list"))


def test_task_create_prefills_from_query_params(web, user):
    contact = ContactFactory(first_name="Ann", last_name="Lee")
    body = web.get(reverse("task_create"), {"contact": contact.pk}).content.decode()
    assert f'<input type="hidden" name="contact" value="{contact.pk}"' in body
    assert f'<input type="hidden" name="account" value="{contact.account_id}"' in body
    account = AccountFactory(name="Solo Account")
    body = web.get(reverse("task_create"), {"account": account.pk}).content.decode()
    assert f'<input type="hidden" name="account" value="{account.pk}"' in body
    assert 'value="Solo Account"' in body


def test_task_create_writes_the_task_and_timeline(web, user):
    account = AccountFactory()
    response = web.post(
        reverse("task_create"),
        {
            "title": "Send renewal quote",
            "owner": user.pk,
            "account": account.pk,
            "due_at": "2030-03-01T10:00",
        },
    )
    assert response.status_code == 302
    assert response.url == reverse("account_detail", args=[account.pk])
    task = Task.objects.get()
    assert (task.title, task.owner, task.status) == ("Send renewal quote", user, TaskStatus.OPEN)
    assert task.due_at.isoformat().startswith("2030-03-01T10:00")
    assert account.activities.filter(kind=ActivityKind.TASK_CREATED).exists()


def test_task_create_requires_a_title(web):
    response = web.post(reverse("task_create"), {"title": "", "due_at": "not a date"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"title", "due_at"}
    assert not Task.objects.exists()


def test_task_edit_can_complete_and_reopen(web, user):
    task = TaskFactory(owner=user, title="Old")
    data = {"title": "New", "owner": user.pk, "account": task.account_id, "status": "done", "due_at": ""}
    assert web.post(reverse("task_edit", args=[task.pk]), data).status_code == 302
    task.refresh_from_db()
    assert (task.title, task.status, task.due_at) == ("New", "done", None)
    assert task.completed_at is not None
    web.post(reverse("task_edit", args=[task.pk]), {**data, "status": "open"})
    task.refresh_from_db()
    assert task.status == "open" and task.completed_at is None


# --- Tasks: the team view (issue 20) ----------------------------------------------------------


def task_titles(web, **params):
    response = web.get(reverse("task_list"), params)
    assert response.status_code == 200
    return [t.title for t in response.context["page_obj"]]


@pytest.fixture
def team_tasks(user):
    bob = UserFactory(username="bob", first_name="Bob", last_name="Agent")
    now = timezone.now()
    TaskFactory(owner=user, title="Mine later", due_at=now + timedelta(days=3))
    TaskFactory(owner=bob, title="Bob overdue", due_at=now - timedelta(days=1))
    TaskFactory(owner=bob, title="Bob next month", due_at=now + timedelta(days=30))
    TaskFactory(owner=None, title="Nobody's", due_at=None)
    return bob


def test_a_manager_sees_everyone_s_tasks_overdue_first(web, user, team_tasks):
    assert task_titles(web, owner="all") == ["Bob overdue", "Mine later", "Bob next month", "Nobody's"]
    assert task_titles(web, owner=team_tasks.pk) == ["Bob overdue", "Bob next month"]
    assert task_titles(web, owner="none") == ["Nobody's"]
    assert task_titles(web) == ["Mine later"]
    body = web.get(reverse("task_list"), {"owner": "all"}).content.decode()
    assert "<h1>Tasks" in body and "Bob Agent" in body and "Unassigned" in body


def test_due_filters(web, user, team_tasks):
    assert task_titles(web, owner="all", due="overdue") == ["Bob overdue"]
    assert task_titles(web, owner="all", due="week") == ["Bob overdue", "Mine later"]


def test_an_agent_sees_only_their_own_tasks_whatever_they_ask(client, team_tasks):
    client.force_login(team_tasks)
    assert task_titles(client, owner="all") == ["Bob overdue", "Bob next month"]
    body = client.get(reverse("task_list")).content.decode()
    assert 'name="owner"' not in body


def test_the_dashboard_link_opens_the_team_s_tasks(web, user, team_tasks):
    body = web.get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("task_list")}?owner=all"' in body
    assert len(task_titles(web, owner="all")) == 4


def test_the_team_view_runs_a_constant_number_of_queries(
    web, user, team_tasks, django_assert_max_num_queries
):
    for n in range(20):
        TaskFactory(owner=UserFactory(), title=f"t{n}", contact=ContactFactory())
    with django_assert_max_num_queries(6):
        web.get(reverse("task_list"), {"owner": "all"})


def test_the_export_follows_the_filters(web, user, team_tasks):
    body = b"".join(web.get(reverse("task_export"), {"owner": "all", "due": "overdue"}).streaming_content)
    assert b"Bob overdue" in body and b"Mine later" not in body
