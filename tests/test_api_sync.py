"""``updated_after`` and ``updated_at`` on every API list of records that change: an
integration asks "what changed since X" instead of re-reading everything."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Account, Contact, Deal, Order, Renewal, Task
from plays.models import Play, PlayStatus
from sms.models import Conversation, Direction, Message, MessageStatus
from tests.factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    OrderFactory,
    RenewalFactory,
    TaskFactory,
)

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
]


@pytest.mark.parametrize(("path", "make", "model", "column"), LISTS, ids=[row[0] for row in LISTS])
def test_updated_after_returns_only_what_changed(api, path, make, model, column):
    now = timezone.now()
    stale, fresh = make(), make()
    model.objects.filter(pk=stale.pk).update(**{column: now - timedelta(days=2)})
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
