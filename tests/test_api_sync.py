"""``updated_after`` and ``updated_at`` on every API list of records that change: an
integration asks "what changed since X" instead of re-reading everything."""

import importlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from crm.models import Account, Contact, Deal, Order, PipelineStage, Renewal, Task, User
from plays.models import Play, PlayStatus
from sms.models import Conversation, Direction, Message, MessageStatus, Notification
from tests.factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    OrderFactory,
    RenewalFactory,
    TaskFactory,
    UserFactory,
)
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


def make_play():
    return Play.objects.create(
        name=f"Nudge {Play.objects.count()}",
        moment="renewal",
        trigger={"type": "renewal_window", "days": 60},
        template="Hi {first_name}",
        status=PlayStatus.DRAFT,
    )


def make_message():
    contact = ContactFactory()
    return Message.objects.create(
        contact=contact,
        direction=Direction.OUTBOUND,
        body="Hi",
        to_number=contact.phone,
        status=MessageStatus.QUEUED,
    )


def make_notification():
    """One of the caller's (the API token's user): the list shows only those."""
    return Notification.objects.create(
        recipient=User.objects.get(username="alice"),
        kind="assigned",
        text="A conversation is yours",
        key=f"sync-{Notification.objects.count()}",
    )


def make_stage():
    return PipelineStage.objects.create(
        name="Legal", slug=f"legal-{PipelineStage.objects.count()}", position=9, probability=70
    )


def make_webhook():
    return WebhookEndpoint.objects.create(url="https://hooks.example.com/in", events=["contact.created"])


# Lists only admins read: the caller is made an admin for them.
ADMIN_LISTS = {"/api/v1/webhooks/"}

LISTS = [
    ("/api/v1/accounts/", AccountFactory, Account, "updated_at"),
    ("/api/v1/contacts/", ContactFactory, Contact, "updated_at"),
    ("/api/v1/deals/", DealFactory, Deal, "updated_at"),
    ("/api/v1/renewals/", RenewalFactory, Renewal, "updated_at"),
    ("/api/v1/orders/", OrderFactory, Order, "updated_at"),
    ("/api/v1/tasks/", TaskFactory, Task, "updated_at"),
    (
        "/api/v1/sms/conversations/",
        lambda: Conversation.objects.create(contact=ContactFactory()),
        Conversation,
        "updated_at",
    ),
    ("/api/v1/sms/messages/", make_message, Message, "status_updated_at"),
    ("/api/v1/plays/", make_play, Play, "updated_at"),
    ("/api/v1/users/", UserFactory, User, "updated_at"),
    ("/api/v1/notifications/", make_notification, Notification, "updated_at"),
    ("/api/v1/webhooks/", make_webhook, WebhookEndpoint, "updated_at"),
    ("/api/v1/pipeline-stages/", make_stage, PipelineStage, "updated_at"),
]


@pytest.fixture(autouse=True)
def caller_role(request, user):
    path = request.node.callspec.params.get("path") if hasattr(request.node, "callspec") else None
    if path in ADMIN_LISTS:
        User.objects.filter(pk=user.pk).update(role="admin")


@pytest.mark.parametrize(("path", "make", "model", "column"), LISTS, ids=[row[0] for row in LISTS])
def test_updated_after_returns_only_what_changed(api, path, make, model, column):
    now = timezone.now()
    stale, fresh = make(), make()
    # Everything else is old too (the list of users holds the caller, created just now).
    model.objects.exclude(pk=fresh.pk).update(**{column: now - timedelta(days=2)})
    model.objects.filter(pk=fresh.pk).update(**{column: now - timedelta(hours=1)})
    everything = api.get(path).json()["results"]
    assert {stale.pk, fresh.pk} <= {row["id"] for row in everything}
    assert all("updated_at" in row for row in everything)

    changed = api.get(path, {"updated_after": (now - timedelta(days=1)).isoformat()})
    assert changed.status_code == 200, changed.json()
    assert [row["id"] for row in changed.json()["results"]] == [fresh.pk]
    # Inclusive: the largest updated_at a client has seen returns that record again, so none is missed.
    at_fresh = api.get(path, {"updated_after": changed.json()["results"][0]["updated_at"]})
    assert [row["id"] for row in at_fresh.json()["results"]] == [fresh.pk]


@pytest.mark.parametrize("path", [row[0] for row in LISTS])
def test_a_bad_updated_after_is_400(api, path):
    response = api.get(path, {"updated_after": "last tuesday"})
    assert response.status_code == 400 and "updated_after" in response.json()


def test_an_edit_shows_up_in_updated_after(api):
    contact = ContactFactory(first_name="Ann")
    Contact.objects.filter(pk=contact.pk).update(updated_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert api.get("/api/v1/contacts/", {"updated_after": since}).json()["results"] == []
    api.patch(f"/api/v1/contacts/{contact.pk}/", {"first_name": "Anna"}, format="json")
    assert [
        c["first_name"] for c in api.get("/api/v1/contacts/", {"updated_after": since}).json()["results"]
    ] == ["Anna"]


def test_a_user_changed_by_an_admin_shows_up_in_updated_after(api, user):
    agent = UserFactory(role="agent")
    User.objects.update(updated_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert api.get("/api/v1/users/", {"updated_after": since}).json()["results"] == []
    User.objects.filter(pk=user.pk).update(role="admin")
    assert api.patch(f"/api/v1/users/{agent.pk}/", {"role": "manager"}, format="json").status_code == 200
    changed = api.get("/api/v1/users/", {"updated_after": since}).json()["results"]
    assert [(u["id"], u["role"]) for u in changed] == [(agent.pk, "manager")]


def test_reading_a_notification_shows_up_in_updated_after(api):
    first, second = make_notification(), make_notification()
    Notification.objects.update(updated_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert api.get("/api/v1/notifications/", {"updated_after": since}).json()["results"] == []
    api.post(f"/api/v1/notifications/{first.pk}/read/")
    assert [
        n["id"] for n in api.get("/api/v1/notifications/", {"updated_after": since}).json()["results"]
    ] == [first.pk]
    api.post("/api/v1/notifications/read-all/")
    read = api.get("/api/v1/notifications/", {"updated_after": since}).json()["results"]
    assert {n["id"] for n in read} == {first.pk, second.pk} and all(n["read_at"] for n in read)


def _migration(app: str, name: str):
    """A migration module by its descriptive name (the number changes when branches merge)."""
    [path] = (Path(__file__).resolve().parent.parent / app / "migrations").glob(f"*_{name}.py")
    return importlib.import_module(f"{app}.migrations.{path.stem}")


def test_the_migration_dates_existing_users_from_when_they_joined():
    joined = timezone.now() - timedelta(days=400)
    veteran = UserFactory(date_joined=joined)
    _migration("crm", "user_updated_at").fill(django_apps, None)
    veteran.refresh_from_db()
    assert veteran.updated_at == joined


def test_the_migration_dates_existing_notifications_from_their_reading(user):
    unread, read = make_notification(), make_notification()
    created = timezone.now() - timedelta(days=5)
    Notification.objects.update(created_at=created)
    Notification.objects.filter(pk=read.pk).update(read_at=created + timedelta(days=1))
    _migration("sms", "notification_updated_at").fill(django_apps, None)
    assert dict(Notification.objects.values_list("pk", "updated_at")) == {
        unread.pk: created,
        read.pk: created + timedelta(days=1),
    }
