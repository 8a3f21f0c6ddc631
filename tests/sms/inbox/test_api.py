"""The conversations API: /api/v1/sms/conversations/ and its actions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Activity, ActivityKind, SmsConsent
from sms.models import ConsentEvent, Conversation, ConversationStatus, Direction, IntentLabel, Message
from tests.factories import AccountFactory, ContactFactory, UserFactory
from tests.sms.inbox.test_views import bulk_conversations, make_conversation

pytestmark = pytest.mark.django_db

CONVERSATIONS = "/api/v1/sms/conversations/"


def action(conversation, name: str) -> str:
    return f"{CONVERSATIONS}{conversation.pk}/{name}/"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def timeline_entry(conversation) -> Activity:
    return Activity.objects.filter(contact=conversation.contact, kind=ActivityKind.INBOX_ACTION).latest("id")


def test_anonymous_callers_get_401(anon_api):
    conversation = make_conversation()
    assert anon_api.get(CONVERSATIONS).status_code == 401
    assert anon_api.post(action(conversation, "resolve")).status_code == 401
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_list_and_detail_fields(api, user):
    account = AccountFactory()
    contact = ContactFactory(account=account, first_name="Ana", last_name="Api", sms_consent="opted_in")
    due = timezone.now() - timedelta(minutes=5)
    conversation = make_conversation(contact, body="Need help", intent="help", assignee=user, sla_due_at=due)
    Conversation.objects.filter(pk=conversation.pk).update(intent_confidence=0.9)
    row = api.get(CONVERSATIONS).json()["results"][0]
    assert set(row) == {
        "id",
        "contact",
        "contact_name",
        "account",
        "status",
        "assignee",
        "intent",
        "intent_confidence",
        "sla_due_at",
        "sla_breached",
        "first_response_at",
        "first_response_seconds",
        "last_response_seconds",
        "last_inbound_at",
        "last_outbound_at",
        "snoozed_until",
        "last_message",
        "updated_at",
        "unread",
    }
    assert (row["contact"], row["contact_name"], row["account"], row["assignee"]) == (
        contact.pk,
        "Ana Api",
        account.pk,
        user.pk,
    )
    assert (row["status"], row["intent"], row["intent_confidence"], row["sla_breached"]) == (
        "open",
        "help",
        0.9,
        True,
    )
    assert row["last_message"] == {
        "id": conversation.last_message_id,
        "direction": "inbound",
        "body": "Need help",
        "created_at": row["last_message"]["created_at"],
    }
    detail = api.get(f"{CONVERSATIONS}{conversation.pk}/").json()
    assert detail == row
    assert api.get(f"{CONVERSATIONS}999999/").status_code == 404


def test_filters(api, user):
    now = timezone.now()
    mine = make_conversation(assignee=user, intent="help", sla_due_at=now - timedelta(minutes=1))
    theirs = make_conversation(assignee=UserFactory(), intent="pricing", sla_due_at=now + timedelta(hours=1))
    nobody = make_conversation(intent="help")
    snoozed = make_conversation(status=ConversationStatus.SNOOZED)
    assert ids(api.get(CONVERSATIONS, {"assignee": "me"})) == [mine.pk]
    assert ids(api.get(CONVERSATIONS, {"assignee": theirs.assignee_id})) == [theirs.pk]
    assert set(ids(api.get(CONVERSATIONS, {"assignee": "none"}))) == {nobody.pk, snoozed.pk}
    assert set(ids(api.get(CONVERSATIONS, {"intent": "help"}))) == {mine.pk, nobody.pk}
    assert ids(api.get(CONVERSATIONS, {"status": "snoozed"})) == [snoozed.pk]
    assert ids(api.get(CONVERSATIONS, {"sla_breached": "true"})) == [mine.pk]
    assert set(ids(api.get(CONVERSATIONS, {"sla_breached": "false"}))) == {theirs.pk, nobody.pk, snoozed.pk}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"assignee": "someone"}, "assignee"),
        ({"status": "archived"}, "status"),
        ({"intent": "gossip"}, "intent"),
        ({"sla_breached": "maybe"}, "sla_breached"),
    ],
)
def test_bad_filters_are_400_naming_the_field(api, params, field):
    response = api.get(CONVERSATIONS, params)
    assert response.status_code == 400 and field in response.json()


def test_search_like_the_page(api):
    account = AccountFactory(name="Searchable Ltd")
    wanted = make_conversation(
        ContactFactory(account=account, first_name="Quin", phone="+16465550123", sms_consent="opted_in"),
        body="the widget broke",
    )
    make_conversation(body="all good")
    for query in ("Quin", "Searchable", "(646) 555-0123", "widget broke"):
        assert ids(api.get(CONVERSATIONS, {"search": query})) == [wanted.pk], query


def test_ordering_breached_first_then_deadline_then_latest_reply(api):
    now = timezone.now()
    old = make_conversation(received_at=now - timedelta(hours=3))
    new = make_conversation(received_at=now - timedelta(minutes=3))
    later = make_conversation(sla_due_at=now + timedelta(hours=2))
    breached = make_conversation(sla_due_at=now - timedelta(minutes=20))
    assert ids(api.get(CONVERSATIONS)) == [breached.pk, later.pk, new.pk, old.pk]
    assert ids(api.get(CONVERSATIONS, {"ordering": "id"})) == [old.pk, new.pk, later.pk, breached.pk]


def test_list_runs_a_constant_number_of_queries(api, user, django_assert_max_num_queries):
    bulk_conversations(5, assignee=user)
    with django_assert_max_num_queries(4):
        assert len(ids(api.get(CONVERSATIONS))) == 5
    bulk_conversations(10_000)
    with django_assert_max_num_queries(4):
        response = api.get(CONVERSATIONS, {"search": "thing", "assignee": "none", "sla_breached": "false"})
    assert len(ids(response)) == 50 and response.json()["next"]


# --- Actions --------------------------------------------------------------------------------


def test_reply_returns_the_message(api, user):
    conversation = make_conversation(body="Are you there?")
    response = api.post(action(conversation, "reply"), {"body": "Yes, here!"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["body"], body["direction"], body["kind"], body["status"], body["sent_by"]) == (
        "Yes, here!",
        "outbound",
        "reply",
        "queued",
        user.pk,
    )
    conversation.refresh_from_db()
    assert conversation.assignee == user and conversation.first_response_seconds is not None
    assert conversation.last_message_id == body["id"]


@pytest.mark.parametrize(
    ("contact_fields", "status", "code"),
    [
        ({"sms_consent": SmsConsent.OPTED_OUT}, 409, "opted_out"),
        ({"phone": None, "phone_raw": ""}, 422, "no_phone"),
    ],
)
def test_refused_reply_is_409_or_422_with_the_reason(api, contact_fields, status, code):
    conversation = make_conversation(**contact_fields)
    response = api.post(action(conversation, "reply"), {"body": "Hello?"})
    assert response.status_code == status
    assert response.json()["code"] == code and response.json()["detail"]
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


@pytest.mark.parametrize(
    ("name", "payload", "field"),
    [
        ("reply", {}, "body"),
        ("reply", {"body": ""}, "body"),
        ("reply", {"body": "x" * 1601}, "body"),
        ("assign", {}, "assignee"),
        ("assign", {"assignee": 999999}, "assignee"),
        ("snooze", {}, "until"),
        ("snooze", {"until": "tomorrow-ish"}, "until"),
        ("snooze", {"until": "2001-01-01T09:00:00Z"}, "until"),
        ("relabel", {"intent": "gossip"}, "intent"),
    ],
)
def test_bad_action_input_is_400_naming_the_field(api, name, payload, field):
    conversation = make_conversation()
    response = api.post(action(conversation, name), payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not Activity.objects.filter(kind=ActivityKind.INBOX_ACTION).exists()


@pytest.mark.parametrize("name", ["reply", "assign", "resolve", "snooze", "relabel", "record-opt-out"])
def test_actions_on_an_unknown_conversation_are_404(api, name):
    assert api.post(f"{CONVERSATIONS}999999/{name}/", {}).status_code == 404


def test_assign_and_unassign(api, user):
    conversation = make_conversation()
    colleague = UserFactory()
    response = api.post(action(conversation, "assign"), {"assignee": colleague.pk})
    assert response.status_code == 200 and response.json()["assignee"] == colleague.pk
    entry = timeline_entry(conversation)
    assert (entry.actor, entry.data["action"], entry.data["assignee"]) == (user, "assign", colleague.pk)
    response = api.post(action(conversation, "assign"), {"assignee": None}, format="json")
    assert response.json()["assignee"] is None
    conversation.refresh_from_db()
    assert conversation.assignee is None and timeline_entry(conversation).summary == "Unassigned"


def test_resolve(api, user):
    conversation = make_conversation(sla_due_at=timezone.now() - timedelta(minutes=1))
    response = api.post(action(conversation, "resolve"))
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["sla_breached"]) == ("closed", False)
    entry = timeline_entry(conversation)
    assert (entry.actor, entry.summary) == (user, "Resolved")


def test_snooze(api, user):
    conversation = make_conversation()
    until = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    response = api.post(action(conversation, "snooze"), {"until": until.isoformat()})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "snoozed"
    conversation.refresh_from_db()
    assert conversation.snoozed_until == until
    entry = timeline_entry(conversation)
    assert (entry.actor, entry.data["action"], entry.data["until"]) == (user, "snooze", until.isoformat())


def test_relabel(api, user):
    conversation = make_conversation(intent="other")
    response = api.post(action(conversation, "relabel"), {"intent": "meeting"})
    assert response.status_code == 200 and response.json()["intent"] == "meeting"
    assert response.json()["sla_due_at"] is not None  # a high intent starts its SLA
    label = IntentLabel.objects.get()
    assert (label.predicted, label.intent, label.labelled_by) == ("other", "meeting", user)
    assert timeline_entry(conversation).actor == user


def test_record_opt_out(api, user):
    conversation = make_conversation(intent="opt_out", body="stop messaging me please")
    response = api.post(action(conversation, "record-opt-out"))
    assert response.status_code == 200 and response.json()["status"] == "closed"
    event = ConsentEvent.objects.get()
    assert (event.action, event.source, event.actor, event.proof["message"]) == (
        "opt_out",
        "agent",
        user,
        "stop messaging me please",
    )
    conversation.contact.refresh_from_db()
    assert conversation.contact.sms_consent == SmsConsent.OPTED_OUT
    assert timeline_entry(conversation).actor == user


def test_the_schema_documents_the_inbox(api):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    listed = {param["name"] for param in paths[CONVERSATIONS]["get"]["parameters"]}
    assert {"status", "assignee", "intent", "sla_breached", "search", "ordering"} <= listed
    for name in ("reply", "assign", "resolve", "snooze", "relabel", "record-opt-out"):
        assert "post" in paths[f"{CONVERSATIONS}{{id}}/{name}/"]
    reply = paths[f"{CONVERSATIONS}{{id}}/reply/"]["post"]["responses"]
    assert {"201", "400", "404", "409", "422"} <= set(reply)
