"""Each event is published where its change is recorded, in the change's transaction: one
outbox INSERT for a bulk write of any size, nothing for a rolled-back change."""

import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.events import EVENT_TYPES, UnknownEventType, events_publish
from crm import services as crm_services
from crm.models import PipelineStage, SmsConsent, Task
from plays.engine import play_run
from plays.models import Arm, Enrollment
from sms.inbound import inbound_receive
from sms.inbox.services import conversation_assign
from sms.services.consent import consent_record
from sms.services.delivery import message_deliver
from sms.services.sending import message_send
from sms.services.status import message_status_apply
from tests.crm.imports_helpers import run
from tests.factories import AccountFactory, ContactFactory, RenewalFactory, UserFactory
from tests.plays.conftest import make_play
from webhooks import services
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quiet_sms(settings):
    settings.SMS_PROVIDER = "console"
    settings.SMS_SEGMENTS_PER_SECOND = 0
    settings.SMS_CONSOLE_DELIVERY_DELAY = (0, 0)
    settings.SMS_QUIET_HOURS_START = 0
    settings.SMS_QUIET_HOURS_END = 24
    settings.GOVERNANCE_ACCOUNT_WEEKLY_CAP = 1000
    from sms.providers import _provider

    _provider.cache_clear()
    yield
    _provider.cache_clear()


@pytest.fixture
def subscribe(loopback_allowed):
    def make(*events):
        return services.endpoint_create(url="http://127.0.0.1:9/hook", events=list(events))

    return make


def published(event_type: str) -> list[dict]:
    bodies = (
        WebhookDelivery.objects.filter(event_type=event_type).order_by("id").values_list("body", flat=True)
    )
    payloads = [json.loads(body) for body in bodies]
    assert all(p["type"] == event_type and set(p) == {"type", "timestamp", "data"} for p in payloads)
    return [p["data"] for p in payloads]


def test_contacts_created_and_updated(subscribe):
    subscribe("contact.created", "contact.updated")
    contact = crm_services.contact_create(first_name="Ana", phone="(415) 555-0142", phone_region="US")
    crm_services.contact_update(contact=contact, last_name="Lopez")
    [created] = published("contact.created")
    assert created["id"] == contact.pk and created["phone"] == "+14155550142"
    [updated] = published("contact.updated")
    assert updated["last_name"] == "Lopez" and updated["updated_at"].endswith("Z")


def test_deals_and_tasks_created(subscribe):
    subscribe("deal.created", "task.created")
    account = AccountFactory()
    deal = crm_services.deal_create(
        name="Upsell", account=account, stage=PipelineStage.objects.first(), amount="1200.50"
    )
    task = crm_services.task_create(owner=account.owner, account=account, title="Call")
    [deal_data] = published("deal.created")
    assert (
        deal_data["id"] == deal.pk and deal_data["amount"] == "1200.50" and deal_data["account"] == account.pk
    )
    [task_data] = published("task.created")
    assert task_data == task_data | {
        "id": task.pk,
        "title": "Call",
        "owner": account.owner_id,
        "status": "open",
    }


def test_consent_changes(subscribe):
    subscribe("consent.changed")
    contact = ContactFactory(sms_consent=SmsConsent.UNKNOWN)
    event = consent_record(contact=contact, action="opt_out", source="agent")
    [data] = published("consent.changed")
    assert data["id"] == event.pk and data["contact"] == contact.pk and data["action"] == "opt_out"


def test_messages_sent_delivered_and_failed(subscribe):
    subscribe("message.sent", "message.delivered", "message.failed")
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    message = message_send(contact=contact, body="Your renewal is coming up")
    assert message_deliver(message_id=message.pk).result == "sent"
    message.refresh_from_db()
    [sent] = published("message.sent")
    assert (
        sent["id"] == message.pk and sent["status"] == "sent" and sent["provider_sid"] == message.provider_sid
    )
    message_status_apply(provider_sid=message.provider_sid, provider_status="delivered")
    [delivered] = published("message.delivered")
    assert delivered == {
        "id": message.pk,
        "contact": contact.pk,
        "status": "delivered",
        "provider_sid": message.provider_sid,
        "error_code": "",
    }
    other = message_send(contact=contact, body="Second")
    message_deliver(message_id=other.pk)
    other.refresh_from_db()
    message_status_apply(provider_sid=other.provider_sid, provider_status="undelivered", error_code="30006")
    [failed] = published("message.failed")
    assert failed["id"] == other.pk and failed["status"] == "undelivered" and failed["error_code"] == "30006"


def test_a_text_blocked_at_delivery_is_a_failed_message(subscribe):
    subscribe("message.failed")
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    message = message_send(contact=contact, body="Hi")
    consent_record(contact=contact, action="opt_out", source="agent")
    assert message_deliver(message_id=message.pk).result == "blocked"
    [failed] = published("message.failed")
    assert (failed["id"], failed["status"], failed["error_code"]) == (message.pk, "failed", "opted_out")


def test_a_received_text_carries_its_intent_and_its_assignment(subscribe):
    subscribe("message.received", "conversation.assigned")
    owner = UserFactory()
    contact = ContactFactory(account=AccountFactory(owner=owner), sms_consent=SmsConsent.OPTED_IN)
    result = inbound_receive(
        provider_sid="SMin-webhook",
        from_number=contact.phone,
        to_number="+15005550006",
        body="How much would 20 more seats cost? Can you send pricing?",
    )
    [received] = published("message.received")
    assert received["id"] == result.message.pk and received["direction"] == "inbound"
    assert received["intent"] == result.message.intent == "pricing"
    [assigned] = published("conversation.assigned")
    assert assigned["assignee"] == owner.pk and assigned["contact"] == contact.pk
    agent = UserFactory()
    conversation_assign(conversation=contact.conversation, assignee=agent, actor=owner)
    assert [a["assignee"] for a in published("conversation.assigned")] == [owner.pk, agent.pk]


def test_a_stop_is_received_with_its_keyword(subscribe):
    subscribe("message.received", "consent.changed")
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    inbound_receive(
        provider_sid="SMstop-webhook", from_number=contact.phone, to_number="+1500555006", body="STOP"
    )
    assert published("message.received")[0]["intent"] in ("opt_out", "stop")
    assert published("consent.changed")[0]["action"] == "opt_out"


def test_a_play_run_publishes_its_decisions_in_one_insert(subscribe):
    subscribe("enrollment.decided")
    play = make_play(holdout_percent=50)
    account = AccountFactory()
    today = timezone.now().date()
    RenewalFactory(
        account=account, start_date=today - timedelta(days=330), end_date=today + timedelta(days=35)
    )
    contacts = [ContactFactory(account=account, sms_consent=SmsConsent.OPTED_IN) for _ in range(30)]
    with CaptureQueriesContext(connection) as queries:
        play_run(play)
    outbox_inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "webhooks_webhookdelivery"')]
    assert len(outbox_inserts) == 1
    decided = published("enrollment.decided")
    assert sorted(d["contact"] for d in decided) == sorted(c.pk for c in contacts)
    by_contact = {e.contact_id: e for e in Enrollment.objects.filter(play=play)}
    for data in decided:
        enrollment = by_contact[data["contact"]]
        assert (data["id"], data["arm"], data["outcome"], data["message"]) == (
            enrollment.pk,
            enrollment.arm,
            enrollment.outcome,
            enrollment.message_id,
        )
    assert {d["arm"] for d in decided} == {Arm.TREATMENT, Arm.CONTROL}


@pytest.mark.parametrize("count", [10, 1000])
def test_a_bulk_write_is_one_outbox_insert_whatever_its_size(subscribe, count, django_assert_max_num_queries):
    subscribe("task.created")
    subscribe("task.created")  # two endpoints: still one insert
    owner, account = UserFactory(), AccountFactory()
    tasks = [Task(owner=owner, account=account, title=f"Follow up {n}") for n in range(count)]
    with CaptureQueriesContext(connection) as queries:
        crm_services.tasks_create_bulk(tasks=tasks)
    webhook_queries = [q["sql"] for q in queries if "webhooks_" in q["sql"]]
    assert len(webhook_queries) == 2  # which endpoints want it, then one INSERT
    assert webhook_queries[1].startswith('INSERT INTO "webhooks_webhookdelivery"')
    assert WebhookDelivery.objects.count() == 2 * count
    assert len(set(WebhookDelivery.objects.values_list("message_id", flat=True))) == count


def test_a_contact_import_publishes_in_bulk(subscribe, admin_user):
    subscribe("contact.created", "contact.updated")
    ContactFactory(email="known@example.com", first_name="Old")
    rows = "\n".join(f"First {n},Last,person{n}@example.com" for n in range(300))
    with CaptureQueriesContext(connection) as queries:
        run("contacts", f"First Name,Last Name,Email\nNew,Name,known@example.com\n{rows}", actor=admin_user)
    assert len([q for q in queries if q["sql"].startswith('INSERT INTO "webhooks_webhookdelivery"')]) == 2
    created = published("contact.created")
    assert len(created) == 300 and {c["email"] for c in created} == {
        f"person{n}@example.com" for n in range(300)
    }
    assert all(isinstance(c["id"], int) for c in created)
    [updated] = published("contact.updated")
    assert updated["email"] == "known@example.com" and updated["first_name"] == "New"


def test_a_rolled_back_change_publishes_nothing(subscribe, django_capture_on_commit_callbacks):
    subscribe("contact.created", "task.created")
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        contact = crm_services.contact_create(first_name="Ghost")
        crm_services.task_create(owner=UserFactory(), contact=contact, title="Never")
        assert WebhookDelivery.objects.count() == 2  # written with the change...
        raise RuntimeError("the change fails")
    assert not WebhookDelivery.objects.exists()  # ...and gone with it
    assert callbacks == []  # no worker is woken


def test_without_subscribers_nothing_is_written(subscribe):
    subscribe("deal.created")  # another type
    crm_services.contact_create(first_name="Quiet")
    assert not WebhookDelivery.objects.exists()


def test_the_vocabulary_is_closed():
    assert {
        "contact.created",
        "contact.updated",
        "consent.changed",
        "message.sent",
        "message.delivered",
        "message.failed",
        "message.received",
        "conversation.assigned",
        "enrollment.decided",
        "deal.created",
        "task.created",
    } <= set(EVENT_TYPES)
    with pytest.raises(UnknownEventType):
        events_publish("contact.deleted", [{"id": 1}])


def test_an_endpoint_turned_off_elsewhere_gets_no_rows(subscribe):
    from webhooks.models import WebhookEndpoint

    endpoint = subscribe("contact.created")
    crm_services.contact_create(first_name="Before")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    crm_services.contact_create(first_name="After")
    assert [
        json.loads(body)["data"]["first_name"]
        for body in WebhookDelivery.objects.values_list("body", flat=True)
    ] == ["Before"]
