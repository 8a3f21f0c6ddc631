"""Notifications: each kind from its path (assignment, reply, the SLA sweep), escalation to the
manager with optional reassignment, the API, the bell and email to those who opted in."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from crm.models import Activity
from sms.inbox import services
from sms.inbox.intents import classify
from sms.inbox.sla import sla_sweep
from sms.models import Conversation, ConversationStatus, Direction, Message, MessageKind, Notification
from sms.notifications.services import notifications_email_pending
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _conversation(assignee=None, **fields):
    contact = ContactFactory(first_name="Jane", last_name="Doe")
    return Conversation.objects.create(
        contact=contact, assignee=assignee, status=ConversationStatus.OPEN, **fields
    )


def _inbound(conversation, body):
    message = Message.objects.create(
        contact=conversation.contact,
        conversation=conversation,
        direction=Direction.INBOUND,
        kind=MessageKind.INBOUND,
        body=body,
        to_number="+15005550006",
        status="received",
    )
    services.inbound_route(
        message=message, conversation=conversation, contact=conversation.contact, result=classify(body)
    )
    return message


def test_reply_in_my_conversation_notifies_me():
    agent = UserFactory(username="agent")
    conversation = _conversation(assignee=agent)
    message = _inbound(conversation, "thanks, that worked")
    [note] = Notification.objects.filter(recipient=agent)
    assert note.kind == "reply" and note.conversation_id == conversation.pk
    assert "Jane Doe replied" in note.text
    # A retried webhook routing the same message again tells nobody twice.
    services.inbound_route(
        message=message,
        conversation=conversation,
        contact=conversation.contact,
        result=classify(message.body),
    )
    assert Notification.objects.filter(recipient=agent).count() == 1


def test_routing_a_high_intent_reply_notifies_the_new_assignee():
    owner = UserFactory(username="owner")
    conversation = _conversation()
    conversation.contact.account.owner = owner
    conversation.contact.account.save()
    _inbound(conversation, "Can you help? I can't log in")
    conversation.refresh_from_db()
    assert conversation.assignee == owner
    assert list(Notification.objects.filter(recipient=owner).values_list("kind", flat=True)) == ["assigned"]


def test_unassigned_reply_notifies_nobody():
    conversation = _conversation()
    conversation.contact.account.owner = None
    conversation.contact.account.save()
    _inbound(conversation, "ok")
    assert not Notification.objects.exists()


def test_assigning_someone_else_notifies_them_not_myself():
    me, colleague = UserFactory(username="me"), UserFactory(username="colleague")
    conversation = _conversation()
    services.conversation_assign(conversation=conversation, assignee=colleague, actor=me)
    assert Notification.objects.get().recipient == colleague
    services.conversation_assign(conversation=conversation, assignee=me, actor=me)
    assert Notification.objects.count() == 1


def test_sla_due_soon_once_within_15_minutes():
    agent = UserFactory(username="agent")
    soon = _conversation(assignee=agent, sla_due_at=NOW + timedelta(minutes=10), awaiting_since=NOW)
    _conversation(assignee=agent, sla_due_at=NOW + timedelta(minutes=40), awaiting_since=NOW)
    assert sla_sweep().due_soon == 1
    sla_sweep()
    [note] = Notification.objects.all()
    assert (note.kind, note.conversation_id, note.recipient) == ("sla_due_soon", soon.pk, agent)
    assert "due in 10 min" in note.text


def test_breach_notifies_assignee_escalates_to_manager_and_lands_on_timeline(settings):
    settings.INBOX_ESCALATION_REASSIGN = False
    boss = UserFactory(username="boss", role="manager")
    agent = UserFactory(username="agent", manager=boss)
    conversation = _conversation(assignee=agent, sla_due_at=NOW - timedelta(minutes=1), awaiting_since=NOW)
    result = sla_sweep()
    assert (result.breached, result.escalated, result.reassigned) == (1, 1, 0)
    kinds = dict(Notification.objects.values_list("recipient__username", "kind"))
    assert kinds == {"agent": "sla_breached", "boss": "escalated"}
    conversation.refresh_from_db()
    assert conversation.sla_breached_at == conversation.sla_due_at
    assert conversation.escalated_to == boss and conversation.assignee == agent
    actions = sorted(
        Activity.objects.filter(contact=conversation.contact).values_list("data__action", flat=True)
    )
    assert actions == ["escalated", "sla_breached"]
    # The next sweep records nothing again.
    assert sla_sweep().breached == 0
    assert Notification.objects.count() == 2 and Activity.objects.count() == 2


def test_breach_reassigns_to_the_least_loaded_agent_when_configured(settings):
    settings.INBOX_ESCALATION_REASSIGN = True
    late = UserFactory(username="late")
    busy = UserFactory(username="busy")
    free = UserFactory(username="free")
    UserFactory(username="away", takes_conversations=False)
    _conversation(assignee=busy)
    conversation = _conversation(assignee=late, sla_due_at=NOW - timedelta(minutes=1), awaiting_since=NOW)
    assert sla_sweep().reassigned == 1
    conversation.refresh_from_db()
    assert conversation.assignee == free
    assert Notification.objects.get(recipient=free).kind == "assigned"
    assert Activity.objects.filter(data__action="assign", data__reason="sla_breached").count() == 1


def test_sweep_is_set_based(django_assert_max_num_queries, settings):
    settings.INBOX_ESCALATION_REASSIGN = True
    boss = UserFactory(username="boss")
    agents = [UserFactory(username=f"a{n}", manager=boss) for n in range(4)]
    for n in range(20):
        _conversation(assignee=agents[n % 4], sla_due_at=NOW - timedelta(minutes=n + 1), awaiting_since=NOW)
        _conversation(assignee=agents[n % 4], sla_due_at=NOW + timedelta(minutes=5), awaiting_since=NOW)
    with django_assert_max_num_queries(12):
        result = sla_sweep()
    assert (result.breached, result.due_soon) == (20, 20)
    assert Notification.objects.filter(kind="escalated").count() == 20


def test_email_only_to_those_who_opted_in(settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    keen = UserFactory(username="keen", email="keen@example.com", notify_by_email=True)
    quiet = UserFactory(username="quiet", email="quiet@example.com")
    _conversation(assignee=keen, sla_due_at=NOW - timedelta(minutes=1), awaiting_since=NOW)
    _conversation(assignee=quiet, sla_due_at=NOW - timedelta(minutes=1), awaiting_since=NOW)
    with django_capture_on_commit_callbacks(execute=False):
        sla_sweep()
    assert notifications_email_pending() == 1
    assert notifications_email_pending() == 0
    [email] = mail.outbox
    assert email.to == ["keen@example.com"]
    assert "Reply deadline missed" in email.subject and "/inbox/?conversation=" in email.body


def test_api_lists_newest_first_filters_unread_and_reads(api, user, django_assert_max_num_queries):
    other = UserFactory(username="other")
    for n in range(5):
        conversation = _conversation(assignee=user)
        Notification.objects.create(
            recipient=user,
            kind="reply",
            conversation=conversation,
            text=f"n{n}",
            key=f"k{n}",
            created_at=NOW - timedelta(minutes=10 - n),
        )
    Notification.objects.create(recipient=other, kind="reply", text="not mine", key="x")
    with django_assert_max_num_queries(5):
        response = api.get("/api/v1/notifications/")
    rows = response.json()["results"]
    assert [row["text"] for row in rows] == ["n4", "n3", "n2", "n1", "n0"]
    assert set(rows[0]) >= {"id", "kind", "conversation", "text", "created_at", "read_at"}
    first = rows[0]["id"]
    assert api.post(f"/api/v1/notifications/{first}/read/").json()["read_at"]
    assert len(api.get("/api/v1/notifications/?unread=true").json()["results"]) == 4
    assert api.get("/api/v1/notifications/?unread=maybe").status_code == 400
    assert api.post("/api/v1/notifications/read-all/").json() == {"marked": 4}
    assert api.get("/api/v1/notifications/?unread=true").json()["results"] == []
    mine_not = Notification.objects.get(recipient=other).pk
    assert api.post(f"/api/v1/notifications/{mine_not}/read/").status_code == 404


def test_bell_counts_unread_and_opening_marks_read(web, user):
    conversation = _conversation(assignee=user)
    note = Notification.objects.create(
        recipient=user, kind="reply", conversation=conversation, text="hi", key="k"
    )
    page = web.get("/")
    assert 'hx-get="/notifications/bell/"' in page.text and 'hx-trigger="load, every 15s"' in page.text
    assert 'data-unread="1"' in web.get("/notifications/bell/").text
    response = web.post(f"/notifications/{note.pk}/open/")
    assert response.status_code == 302 and response["Location"].endswith(f"?conversation={conversation.pk}")
    assert "data-unread" not in web.get("/notifications/bell/").text
    assert "hi" in web.get("/notifications/").text


def test_breach_and_escalation_shown_on_the_conversation(web, user, settings):
    settings.INBOX_ESCALATION_REASSIGN = False
    boss = UserFactory(username="boss", first_name="Bea", last_name="Boss")
    agent = UserFactory(username="agent", manager=boss)
    conversation = _conversation(assignee=agent, sla_due_at=NOW - timedelta(minutes=1), awaiting_since=NOW)
    assert 'id="inbox-breach"' not in web.get(f"/inbox/?conversation={conversation.pk}").text
    sla_sweep()
    page = web.get(f"/inbox/?conversation={conversation.pk}").text
    assert 'id="inbox-breach"' in page and "escalated to Bea Boss" in page
    timeline = web.get(f"/contacts/{conversation.contact.pk}/").text
    assert "Escalated to Bea Boss" in timeline


def test_a_repeated_call_me_keeps_one_open_task():
    from crm.models import Task

    owner = UserFactory(username="owner")
    conversation = _conversation()
    conversation.contact.account.owner = owner
    conversation.contact.account.save()
    _inbound(conversation, "can you call me?")
    _inbound(conversation, "call me please")
    assert Task.objects.filter(contact=conversation.contact, status="open").count() == 1
    Task.objects.update(status="done")
    _inbound(conversation, "call me again")
    assert Task.objects.filter(contact=conversation.contact, status="open").count() == 1
