"""REST API: pipeline stages, deals, renewals, tasks and the activity timeline."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Activity, ActivityKind, Deal, Renewal, Task
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


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


# --- Pipeline stages --------------------------------------------------------------------------


def test_pipeline_stages_list_slugs_in_order(api):
    body = api.get("/api/v1/pipeline-stages/").json()
    assert [row["slug"] for row in body["results"]] == [
        "qualification",
        "discovery",
        "proposal",
        "negotiation",
        "closed-won",
        "closed-lost",
    ]
    won = api.get("/api/v1/pipeline-stages/closed-won/").json()
    assert (won["probability"], won["is_closed"], won["is_won"]) == (100, True, True)


# --- Deals ------------------------------------------------------------------------------------


def test_deal_create_uses_stage_slug_and_lands_on_timeline(api, user):
    account = AccountFactory()
    contact = ContactFactory(account=account)
    response = api.post(
        "/api/v1/deals/",
        {
            "name": "Acme expansion",
            "account": account.pk,
            "contact": contact.pk,
            "owner": user.pk,
            "kind": "expansion",
            "stage": "proposal",
            "amount": "24000.00",
            "next_step": "Send quote",
            "next_step_date": "2025-07-01",
            "expected_close": "2025-08-01",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["stage"] == "proposal"
    assert body["weighted_amount"] == "12000.00"
    assert body["closed_at"] is None
    entry = Activity.objects.get(kind=ActivityKind.DEAL_STAGE_CHANGE)
    assert (entry.account_id, entry.contact_id, entry.actor_id) == (account.pk, contact.pk, user.pk)
    assert entry.data["to"] == "proposal"


def test_deal_patch_to_closed_stage_stamps_closed_at(api):
    deal = DealFactory()
    response = api.patch(f"/api/v1/deals/{deal.pk}/", {"stage": "closed-won"})
    assert response.status_code == 200, response.json()
    assert response.json()["closed_at"] is not None
    deal.refresh_from_db()
    assert deal.stage.slug == "closed-won"
    assert deal.closed_at is not None
    reopened = api.patch(f"/api/v1/deals/{deal.pk}/", {"stage": "negotiation"})
    assert reopened.json()["closed_at"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stage": "no-such-stage"}, "stage"),
        ({"account": 999999}, "account"),
        ({"contact": 999999}, "contact"),
        ({"owner": 999999}, "owner"),
        ({"amount": "-1"}, "amount"),
        ({"kind": "upsell"}, "kind"),
        ({"name": ""}, "name"),
    ],
)
def test_deal_bad_input_names_the_field(api, change, field):
    account = AccountFactory()
    payload = {"name": "D", "account": account.pk, "stage": "qualification", **change}
    response = api.post("/api/v1/deals/", payload)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Deal.objects.exists()


def test_deal_contact_of_another_account_is_400(api):
    account = AccountFactory()
    stranger = ContactFactory()
    response = api.post(
        "/api/v1/deals/", {"name": "D", "account": account.pk, "contact": stranger.pk, "stage": "discovery"}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["contact"]
    deal = DealFactory(account=account)
    assert api.patch(f"/api/v1/deals/{deal.pk}/", {"contact": stranger.pk}).status_code == 400


def test_deal_filters(api):
    owner = UserFactory()
    won = DealFactory(stage=stage("closed-won"), owner=owner, kind="renewal", name="Big renewal")
    open_deal = DealFactory(stage=stage("proposal"), name="Pilot")
    lost = DealFactory(stage=stage("closed-lost"))

    assert _ids(api.get("/api/v1/deals/", {"stage": "proposal"})) == [open_deal.pk]
    assert set(_ids(api.get("/api/v1/deals/", {"stage": ["proposal", "closed-won"]}))) == {
        won.pk,
        open_deal.pk,
    }
    assert _ids(api.get("/api/v1/deals/", {"is_closed": "false"})) == [open_deal.pk]
    assert set(_ids(api.get("/api/v1/deals/", {"is_closed": "true"}))) == {won.pk, lost.pk}
    assert _ids(api.get("/api/v1/deals/", {"is_won": "true"})) == [won.pk]
    assert _ids(api.get("/api/v1/deals/", {"owner": owner.pk})) == [won.pk]
    assert _ids(api.get("/api/v1/deals/", {"kind": "renewal"})) == [won.pk]
    assert _ids(api.get("/api/v1/deals/", {"account": lost.account_id})) == [lost.pk]
    assert _ids(api.get("/api/v1/deals/", {"search": "pilot"})) == [open_deal.pk]
    assert api.get("/api/v1/deals/", {"stage": "nope"}).status_code == 400


# --- Renewals ---------------------------------------------------------------------------------


def test_renewal_create_and_decide(api, user):
    account = AccountFactory()
    response = api.post(
        "/api/v1/renewals/",
        {"account": account.pk, "start_date": "2025-01-01", "end_date": "2025-12-31", "acv": "12000.00"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["decided_at"], body["renewed_acv"]) == ("upcoming", None, None)

    decided = api.patch(f"/api/v1/renewals/{body['id']}/", {"status": "expanded", "renewed_acv": "15000.00"})
    assert decided.status_code == 200, decided.json()
    assert decided.json()["decided_at"] is not None
    entry = Activity.objects.get(kind=ActivityKind.RENEWAL_DECISION)
    assert (entry.account_id, entry.actor_id, entry.data["status"]) == (account.pk, user.pk, "expanded")


def test_renewal_end_before_start_is_400(api):
    account = AccountFactory()
    response = api.post(
        "/api/v1/renewals/",
        {"account": account.pk, "start_date": "2025-06-01", "end_date": "2025-01-01", "acv": "100"},
    )
    assert response.status_code == 400
    assert list(response.json()) == ["end_date"]
    renewal = RenewalFactory()
    moved = api.patch(f"/api/v1/renewals/{renewal.pk}/", {"start_date": "2099-01-01"})
    assert moved.status_code == 400
    assert list(moved.json()) == ["end_date"]
    assert Renewal.objects.count() == 1


def test_renewal_decided_without_renewed_acv_is_400(api):
    renewal = RenewalFactory()
    response = api.patch(f"/api/v1/renewals/{renewal.pk}/", {"status": "renewed"})
    assert response.status_code == 400
    assert list(response.json()) == ["renewed_acv"]
    renewal.refresh_from_db()
    assert renewal.status == "upcoming"


def test_renewal_filters(api):
    today = timezone.now().date()
    soon = RenewalFactory(start_date=today - timedelta(days=300), end_date=today + timedelta(days=30))
    later = RenewalFactory(start_date=today, end_date=today + timedelta(days=365), status="upcoming")
    churned = RenewalFactory(
        start_date=today - timedelta(days=700), end_date=today - timedelta(days=335), status="churned"
    )
    window = {
        "end_date_after": today.isoformat(),
        "end_date_before": (today + timedelta(days=60)).isoformat(),
    }
    assert _ids(api.get("/api/v1/renewals/", window)) == [soon.pk]
    assert _ids(api.get("/api/v1/renewals/", {"status": "churned"})) == [churned.pk]
    assert _ids(api.get("/api/v1/renewals/", {"account": later.account_id})) == [later.pk]


# --- Tasks ------------------------------------------------------------------------------------


def test_task_create_fills_account_from_contact_and_logs_it(api, user):
    contact = ContactFactory()
    response = api.post(
        "/api/v1/tasks/",
        {"owner": user.pk, "contact": contact.pk, "title": "Call back", "due_at": "2025-05-01T15:00:00Z"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["account"], body["status"], body["source"]) == (contact.account_id, "open", "manual")
    entry = Activity.objects.get(kind=ActivityKind.TASK_CREATED)
    assert (entry.contact_id, entry.actor_id, entry.summary) == (contact.pk, user.pk, "Call back")


def test_task_done_stamps_completed_at(api):
    task = TaskFactory()
    response = api.patch(f"/api/v1/tasks/{task.pk}/", {"status": "done"})
    assert response.status_code == 200
    assert response.json()["completed_at"] is not None
    assert response.json()["is_overdue"] is False
    reopened = api.patch(f"/api/v1/tasks/{task.pk}/", {"status": "open"})
    assert reopened.json()["completed_at"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "T", "status": "someday"}, "status"),
        ({"title": "T", "owner": 999999}, "owner"),
        ({"title": "T", "due_at": "next tuesday"}, "due_at"),
    ],
)
def test_task_bad_input_names_the_field(api, payload, field):
    response = api.post("/api/v1/tasks/", payload)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not Task.objects.exists()


def test_task_contact_of_another_account_is_400(api):
    response = api.post(
        "/api/v1/tasks/", {"title": "T", "account": AccountFactory().pk, "contact": ContactFactory().pk}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["contact"]


def test_task_filters(api):
    now = timezone.now()
    owner = UserFactory()
    mine = TaskFactory(owner=owner, due_at=now + timedelta(days=1))
    done = TaskFactory(status="done", source="play", due_at=now - timedelta(days=3))
    later = TaskFactory(due_at=now + timedelta(days=30), title="Quarterly review")
    assert _ids(api.get("/api/v1/tasks/", {"owner": owner.pk})) == [mine.pk]
    assert _ids(api.get("/api/v1/tasks/", {"status": "done"})) == [done.pk]
    assert _ids(api.get("/api/v1/tasks/", {"source": "play"})) == [done.pk]
    assert _ids(api.get("/api/v1/tasks/", {"due_at_after": (now + timedelta(days=7)).isoformat()})) == [
        later.pk
    ]
    assert _ids(api.get("/api/v1/tasks/", {"search": "quarterly"})) == [later.pk]
    assert _ids(api.get("/api/v1/tasks/", {"account": mine.account_id})) == [mine.pk]


# --- Activities -------------------------------------------------------------------------------


def test_activity_post_records_a_touch_through_the_service(api, user):
    contact = ContactFactory()
    response = api.post(
        "/api/v1/activities/",
        {"contact": contact.pk, "kind": "call", "summary": "Discussed renewal", "data": {"minutes": 12}},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["account"] == contact.account_id  # filed on the contact's account by the service
    assert (body["kind"], body["actor"], body["data"]) == ("call", user.pk, {"minutes": 12})
    assert body["occurred_at"] is not None


@pytest.mark.parametrize("kind", ["sms_sent", "deal_stage_change", "task_created", "carrier_pigeon"])
def test_activity_post_refuses_system_kinds(api, kind):
    response = api.post("/api/v1/activities/", {"account": AccountFactory().pk, "kind": kind})
    assert response.status_code == 400
    message = response.json()["kind"][0]
    assert "only email, call, meeting, note" in message
    assert not Activity.objects.exists()


def test_activity_needs_a_contact_or_an_account(api):
    response = api.post("/api/v1/activities/", {"kind": "note", "summary": "Orphan"})
    assert response.status_code == 400
    assert set(response.json()) == {"contact", "account"}


def test_activity_contact_of_another_account_is_400(api):
    response = api.post(
        "/api/v1/activities/",
        {"kind": "email", "account": AccountFactory().pk, "contact": ContactFactory().pk},
    )
    assert response.status_code == 400
    assert list(response.json()) == ["contact"]


def test_activities_are_append_only(api):
    entry = ActivityFactory()
    assert api.patch(f"/api/v1/activities/{entry.pk}/", {"summary": "edited"}).status_code == 405
    assert api.delete(f"/api/v1/activities/{entry.pk}/").status_code == 405
    entry.refresh_from_db()
    assert entry.summary == "Spoke about onboarding"


def test_activity_filters(api):
    now = timezone.now()
    call = ActivityFactory(kind="call", occurred_at=now - timedelta(days=2))
    ActivityFactory(kind="sms_sent", occurred_at=now - timedelta(days=40))
    note = ActivityFactory(kind="note", occurred_at=now, summary="Champion left")
    assert _ids(api.get("/api/v1/activities/", {"kind": "call"})) == [call.pk]
    assert _ids(api.get("/api/v1/activities/", {"contact": note.contact_id})) == [note.pk]
    assert _ids(api.get("/api/v1/activities/", {"account": call.account_id})) == [call.pk]
    recent = {"occurred_at_after": (now - timedelta(days=7)).isoformat()}
    assert _ids(api.get("/api/v1/activities/", recent)) == [note.pk, call.pk]
    assert _ids(api.get("/api/v1/activities/", {"search": "champion"})) == [note.pk]
