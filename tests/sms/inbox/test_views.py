"""The reply inbox page: queue, thread, context, actions, polling partials and query counts."""

import re
import shutil
import subprocess
import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity, ActivityKind, Contact, SmsConsent
from sms.inbox.views import snooze_preset_until
from sms.models import (
    ConsentEvent,
    Conversation,
    ConversationStatus,
    Direction,
    IntentLabel,
    Message,
    MessageKind,
    MessageStatus,
    SavedReply,
)
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    DealFactory,
    RenewalFactory,
    UserFactory,
    stage,
)

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def make_conversation(
    contact: Contact | None = None,
    *,
    body: str = "Hi, a question",
    intent: str = "",
    assignee=None,
    status: str = ConversationStatus.OPEN,
    sla_due_at=None,
    received_at=None,
    **contact_fields,
) -> Conversation:
    """A conversation with one inbound message, built with the ORM (no classifier)."""
    if contact is None:
        contact_fields.setdefault("sms_consent", SmsConsent.OPTED_IN)
        contact = ContactFactory(**contact_fields)
    received_at = received_at or timezone.now()
    conversation = Conversation.objects.create(
        contact=contact, intent=intent, assignee=assignee, status=status, sla_due_at=sla_due_at
    )
    message = Message.objects.create(
        contact=contact,
        conversation=conversation,
        direction=Direction.INBOUND,
        kind=MessageKind.INBOUND,
        body=body,
        to_number="+15005550006",
        from_number=contact.phone or "",
        status=MessageStatus.RECEIVED,
        intent=intent,
    )
    Message.objects.filter(pk=message.pk).update(created_at=received_at)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message=message,
        last_inbound_at=received_at,
        awaiting_since=received_at if status == ConversationStatus.OPEN else None,
    )
    conversation.refresh_from_db()
    return conversation


def inbox_url(**params) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return reverse("inbox") + (f"?{query}" if query else "")


def queue_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-conversation-row="(\d+)"', html)]


def timeline_entry(conversation: Conversation) -> Activity:
    return Activity.objects.filter(contact=conversation.contact, kind=ActivityKind.INBOX_ACTION).latest("id")


# --- Access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "method"),
    [
        ("inbox", [], "get"),
        ("inbox_queue", [], "get"),
        ("inbox_messages", [1], "get"),
        ("inbox_reply", [1], "post"),
        ("inbox_assign", [1], "post"),
        ("inbox_resolve", [1], "post"),
        ("inbox_snooze", [1], "post"),
        ("inbox_relabel", [1], "post"),
        ("inbox_record_opt_out", [1], "post"),
    ],
)
def test_anonymous_visitors_are_sent_to_the_login_page(client, name, args, method):
    conversation = make_conversation()
    args = [conversation.pk] if args else []
    response = getattr(client, method)(reverse(name, args=args))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_the_nav_links_to_the_inbox(web):
    html = web.get(reverse("dashboard")).content.decode()
    assert f'href="{reverse("inbox")}"' in html
    assert 'aria-disabled="true" title="Coming soon">Inbox' not in html
    page = web.get(reverse("inbox")).content.decode()
    assert f'<a href="{reverse("inbox")}" aria-current="page">Inbox</a>' in page
    assert "js/inbox.js" in page and "js/inbox.js" not in html  # only on the inbox page


def test_page_has_three_panes_and_no_inline_scripts_or_external_urls(web):
    conversation = make_conversation()
    html = web.get(inbox_url(conversation=conversation.pk)).content.decode()
    assert 'aria-label="Conversations"' in html
    assert 'id="inbox-thread"' in html
    assert 'aria-label="Customer"' in html
    for script in re.findall(r"<script[^>]*>", html):
        assert "src=" in script  # no inline <script> blocks
    assert not re.search(r'(src|href)="(https?:)?//', html)


# --- Queue: filters, search, ordering ----------------------------------------------------------


def test_default_view_is_mine_when_i_have_open_conversations(web, user):
    mine = make_conversation(assignee=user)
    other = make_conversation(assignee=UserFactory())
    html = web.get(reverse("inbox")).content.decode()
    assert queue_ids(html) == [mine.pk]
    assert re.search(r'aria-current="page">Mine <span class="count">1</span>', html)
    Conversation.objects.filter(pk=mine.pk).update(status=ConversationStatus.CLOSED)
    html = web.get(reverse("inbox")).content.decode()
    assert queue_ids(html) == [other.pk]  # nothing open of mine: everyone's


def test_mine_unassigned_and_all(web, user):
    mine = make_conversation(assignee=user)
    theirs = make_conversation(assignee=UserFactory())
    nobody = make_conversation()
    assert queue_ids(web.get(inbox_url(view="mine")).content.decode()) == [mine.pk]
    assert queue_ids(web.get(inbox_url(view="unassigned")).content.decode()) == [nobody.pk]
    assert set(queue_ids(web.get(inbox_url(view="all")).content.decode())) == {mine.pk, theirs.pk, nobody.pk}


def test_filter_by_intent_and_status(web):
    help_ = make_conversation(intent="help")
    pricing = make_conversation(intent="pricing")
    unclassified = make_conversation()
    snoozed = make_conversation(intent="help", status=ConversationStatus.SNOOZED)
    closed = make_conversation(intent="help", status=ConversationStatus.CLOSED)
    assert queue_ids(web.get(inbox_url(view="all", intent="help")).content.decode()) == [help_.pk]
    assert queue_ids(web.get(inbox_url(view="all", intent="pricing")).content.decode()) == [pricing.pk]
    assert queue_ids(web.get(inbox_url(view="all", intent="none")).content.decode()) == [unclassified.pk]
    assert queue_ids(web.get(inbox_url(view="all", status="snoozed")).content.decode()) == [snoozed.pk]
    assert queue_ids(web.get(inbox_url(view="all", status="closed")).content.decode()) == [closed.pk]
    # Unknown values are ignored rather than failing the page.
    assert web.get(inbox_url(view="nope", intent="nope", status="nope", page="x")).status_code == 200


@pytest.mark.parametrize(
    "query",
    ["Zelda", "zelda+quill", "zq%40example.com", "Quillworks", "%28646%29+555-0199", "upgrade+our+plan"],
)
def test_search_finds_name_phone_email_account_and_message_text(web, query):
    account = AccountFactory(name="Quillworks Inc")
    wanted = make_conversation(
        ContactFactory(
            account=account,
            first_name="Zelda",
            last_name="Quill",
            email="zq@example.com",
            phone="+16465550199",
            sms_consent=SmsConsent.OPTED_IN,
        ),
        body="Can we upgrade our plan?",
    )
    make_conversation(first_name="Other", last_name="Person", body="hello")
    assert queue_ids(web.get(inbox_url(view="all", q=query)).content.decode()) == [wanted.pk]


def test_breached_first_then_by_deadline_then_latest_reply(web):
    now = timezone.now()
    no_sla_old = make_conversation(received_at=now - timedelta(hours=5))
    no_sla_new = make_conversation(received_at=now - timedelta(minutes=5))
    due_later = make_conversation(sla_due_at=now + timedelta(hours=3))
    due_soon = make_conversation(sla_due_at=now + timedelta(minutes=10))
    breached = make_conversation(sla_due_at=now - timedelta(minutes=30))
    breached_longer = make_conversation(sla_due_at=now - timedelta(hours=2))
    html = web.get(inbox_url(view="all")).content.decode()
    assert queue_ids(html) == [
        breached_longer.pk,
        breached.pk,
        due_soon.pk,
        due_later.pk,
        no_sla_new.pk,
        no_sla_old.pk,
    ]
    assert "2 breached" in html


def test_a_row_shows_who_what_and_when(web):
    owner = UserFactory(first_name="Olive", last_name="Agent")
    conversation = make_conversation(
        ContactFactory(first_name="Rita", last_name="Row", account=AccountFactory(name="Rowco")),
        body="My invoice looks wrong",
        intent="help",
        assignee=owner,
        sla_due_at=timezone.now() + timedelta(minutes=42, seconds=30),
    )
    html = web.get(inbox_url(view="all")).content.decode()
    row = html[html.index(f'data-conversation-row="{conversation.pk}"') :]
    row = row[: row.index("</li>")]
    for text in ("Rita Row", "Rowco", "Help request", "Olive Agent", "My invoice looks wrong", "Due in 42m"):
        assert text in row
    assert re.search(r"<time[^>]*>\d\d:\d\d</time>", row)
    Conversation.objects.filter(pk=conversation.pk).update(sla_due_at=timezone.now() - timedelta(minutes=5))
    html = web.get(inbox_url(view="all")).content.decode()
    assert "Breached 5m" in html and "is-breached" in html


def test_the_queue_paginates_by_50_and_keeps_filters_in_links(web):
    for _ in range(51):
        make_conversation(intent="help")
    html = web.get(inbox_url(view="all", intent="help")).content.decode()
    assert len(queue_ids(html)) == 50 and "1\u201350 of 51" in html
    next_link = re.search(r'href="([^"]+)"[^>]*rel="next"', html).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(next_link).query) == {"view": ["all"], "intent": ["help"], "page": ["2"]}
    assert len(queue_ids(web.get(next_link).content.decode())) == 1


def test_the_selected_conversation_is_highlighted_and_links_keep_the_filters(web):
    first, second = make_conversation(intent="help"), make_conversation(intent="help")
    html = web.get(inbox_url(view="all", intent="help", conversation=second.pk)).content.decode()
    assert re.search(rf'class="inbox-row is-selected[^"]*" data-conversation-row="{second.pk}"', html)
    assert not re.search(rf'class="inbox-row is-selected[^"]*" data-conversation-row="{first.pk}"', html)
    row_link = f"{reverse('inbox')}?view=all&amp;intent=help&amp;conversation={first.pk}"
    assert f'href="{row_link}"' in html


# --- Thread and context -------------------------------------------------------------------------


def test_thread_is_oldest_first_with_intent_and_status_badges(web, user):
    conversation = make_conversation(body="first from them", intent="pricing")
    Message.objects.create(
        contact=conversation.contact,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        kind=MessageKind.REPLY,
        body="second from us",
        to_number=conversation.contact.phone,
        status=MessageStatus.DELIVERED,
        sent_by=user,
    )
    html = web.get(inbox_url(conversation=conversation.pk)).content.decode()
    thread = html[html.index('id="inbox-messages"') :]
    assert thread.index("first from them") < thread.index("second from us")
    assert "Pricing / upgrade interest</span>" in thread and ">Delivered</span>" in thread
    assert "data-segment-counter" in html and 'data-gsm-basic="' in html


def test_thread_shows_the_last_50_messages(web):
    conversation = make_conversation(body="the very first")
    for n in range(55):
        Message.objects.create(
            contact=conversation.contact,
            direction=Direction.INBOUND,
            kind=MessageKind.INBOUND,
            body=f"number {n}",
            to_number="+15005550006",
            status=MessageStatus.RECEIVED,
        )
    html = web.get(reverse("inbox_messages", args=[conversation.pk])).content.decode()
    assert html.count('class="sms-bubble') == 50
    assert "the very first" not in html and "number 54" in html


def test_context_pane_shows_account_renewal_deals_consent_timeline_and_last_sender(web, user, settings):
    settings.INBOX_TIMEZONE = "UTC"  # the page counts days in the team's timezone
    owner = UserFactory(first_name="Cora", last_name="Csm")
    account = AccountFactory(name="Ctx Co", owner=owner, plan="scale", seats=42, lifecycle_stage="at_risk")
    today = timezone.localdate()
    RenewalFactory(
        account=account, start_date=today - timedelta(days=300), end_date=today + timedelta(days=65)
    )
    RenewalFactory(
        account=account, start_date=today + timedelta(days=65), end_date=today + timedelta(days=430)
    )
    DealFactory(account=account, name="Ctx expansion", amount=5400)
    DealFactory(account=account, name="Ctx lost deal", stage=stage("closed-lost"))
    contact = ContactFactory(account=account, sms_consent=SmsConsent.OPTED_IN)
    ActivityFactory(contact=contact, account=account, summary="Kickoff call went well")
    conversation = make_conversation(contact)
    Message.objects.create(
        contact=contact,
        direction=Direction.OUTBOUND,
        kind=MessageKind.AUTOMATED,
        body="Your renewal is coming up",
        to_number=contact.phone,
        status=MessageStatus.DELIVERED,
    )
    response = web.get(inbox_url(conversation=conversation.pk))
    html = response.content.decode()
    pane = html[html.index('aria-label="Customer"') :]
    assert f'href="{reverse("account_detail", args=[account.pk])}"' in pane
    for text in (
        "At risk",
        "Cora Csm",
        "scale",
        "42 seats",
        "12,000",
        "in 65 days",
        "Ctx expansion",
        "5,400",
    ):
        assert text in pane, text
    assert "Ctx lost deal" not in pane
    assert "Opted in" in pane and "Kickoff call went well" in pane
    assert "Automated (play)" in pane and "Your renewal is coming up" in pane
    assert response.context["context"].sending_play is None  # filled in once plays exist


def test_saved_replies_are_offered_filled_in(web, user):
    SavedReply.objects.create(name="Greeting", body="Hi {first_name}, {agent} from {account} here. {unknown}")
    conversation = make_conversation(
        ContactFactory(first_name="Sam", account=AccountFactory(name="Sunrise"), sms_consent="opted_in")
    )
    html = web.get(inbox_url(conversation=conversation.pk)).content.decode()
    assert '<option value="Hi Sam, Alice from Sunrise here. {unknown}">Greeting</option>' in html


def test_xss_is_escaped_in_queue_thread_and_context(web):
    contact = ContactFactory(first_name=XSS, account=AccountFactory(name=XSS), sms_consent="opted_in")
    conversation = make_conversation(contact, body=XSS)
    Message.objects.create(
        contact=contact,
        direction=Direction.OUTBOUND,
        kind=MessageKind.MANUAL,
        body=XSS,
        to_number=contact.phone,
        status=MessageStatus.SENT,
    )
    ActivityFactory(contact=contact, account=contact.account, summary=XSS)
    SavedReply.objects.create(name=XSS, body="Hi {first_name}")
    html = web.get(inbox_url(view="all", conversation=conversation.pk)).content.decode()
    assert XSS not in html
    queue = html[html.index('id="inbox-queue"') : html.index('id="inbox-thread"')]
    thread = html[html.index('id="inbox-thread"') : html.index('aria-label="Customer"')]
    context = html[html.index('aria-label="Customer"') :]
    for part in (queue, thread, context):
        assert XSS_ESCAPED in part
    assert XSS not in web.get(reverse("inbox_queue") + "?view=all").content.decode()
    assert XSS not in web.get(reverse("inbox_messages", args=[conversation.pk])).content.decode()


# --- Polling partials ---------------------------------------------------------------------------


def test_queue_partial_polls_with_the_same_filters_and_selection(web):
    conversation = make_conversation(intent="help")
    html = web.get(
        inbox_url(view="all", intent="help", q="Hi", conversation=conversation.pk)
    ).content.decode()
    poll = re.search(r'id="inbox-queue" data-poll\s+hx-get="([^"]+)" hx-trigger="every 5s"', html)
    url = poll.group(1).replace("&amp;", "&")
    assert url.startswith(reverse("inbox_queue"))
    assert parse_qs(urlsplit(url).query) == {
        "view": ["all"],
        "intent": ["help"],
        "q": ["Hi"],
        "conversation": [str(conversation.pk)],
    }
    newcomer = make_conversation(intent="help", body="Hi again, new here")
    partial = web.get(url).content.decode()
    assert partial.lstrip().startswith('<div class="inbox-queue" id="inbox-queue"')
    assert set(queue_ids(partial)) == {conversation.pk, newcomer.pk}
    assert "is-selected" in partial
    assert 'name="q"' not in partial  # the search box is not replaced while typing


def test_thread_partial_polls_only_the_messages(web):
    conversation = make_conversation(body="first")
    page = web.get(inbox_url(conversation=conversation.pk)).content.decode()
    assert re.search(
        rf'id="inbox-messages" data-poll\s+hx-get="{reverse("inbox_messages", args=[conversation.pk])}" '
        r'hx-trigger="every 3s"',
        page,
    )
    Message.objects.create(
        contact=conversation.contact,
        direction=Direction.INBOUND,
        kind=MessageKind.INBOUND,
        body="a new one arrives",
        to_number="+15005550006",
        status=MessageStatus.RECEIVED,
    )
    partial = web.get(reverse("inbox_messages", args=[conversation.pk])).content.decode()
    assert "a new one arrives" in partial and "<textarea" not in partial
    assert web.get(reverse("inbox_messages", args=[999999])).status_code == 404


# --- Actions ----------------------------------------------------------------------------------------


def post(web, name, conversation, data=None, htmx=True, query=""):
    url = reverse(name, args=[conversation.pk]) + (f"?{query}" if query else "")
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return web.post(url, data or {}, **headers)


@pytest.mark.parametrize("htmx", [True, False])
def test_reply_sends_through_the_inbox_service(web, user, htmx):
    conversation = make_conversation(body="Can you help?")
    response = post(web, "inbox_reply", conversation, {"body": "Of course!"}, htmx=htmx, query="view=all")
    message = Message.objects.get(direction=Direction.OUTBOUND)
    assert (message.body, message.kind, message.sent_by, message.status) == (
        "Of course!",
        MessageKind.REPLY,
        user,
        MessageStatus.QUEUED,
    )
    conversation.refresh_from_db()
    assert conversation.assignee == user and conversation.awaiting_since is None
    assert conversation.last_message == message and conversation.first_response_at is not None
    if htmx:
        assert response.status_code == 200
        html = response.content.decode()
        assert "Of course!" in html and f'data-draft-clear="{conversation.pk}"' in html
        assert response["HX-Replace-Url"] == f"{reverse('inbox')}?view=all&conversation={conversation.pk}"
    else:
        assert response.status_code == 302
        assert response.url == f"{reverse('inbox')}?view=all&conversation={conversation.pk}"


def test_send_and_resolve_moves_to_the_next_conversation(web, user):
    conversation, after = make_conversation(), make_conversation()
    response = post(web, "inbox_reply", conversation, {"body": "Done!", "resolve": "1", "then": after.pk})
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED and conversation.first_response_at is not None
    assert conversation.last_message.body == "Done!"  # resolving kept what the reply wrote
    assert timeline_entry(conversation).actor == user
    assert response["HX-Replace-Url"].endswith(f"conversation={after.pk}")
    html = response.content.decode()
    # The sent conversation's draft is dropped in the browser, not the next one's.
    assert f'data-draft-clear="{conversation.pk}"' in html and f'data-draft-key="{after.pk}"' in html


@pytest.mark.parametrize(
    ("contact_fields", "status", "reason"),
    [
        ({"sms_consent": SmsConsent.OPTED_OUT}, 409, "has opted out of texts"),
        ({"phone": None, "phone_raw": ""}, 422, "has no phone number"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_a_refused_reply_says_why_and_keeps_the_text(web, contact_fields, status, reason, htmx):
    conversation = make_conversation(**contact_fields)
    response = post(web, "inbox_reply", conversation, {"body": "Typed with care"}, htmx=htmx)
    assert response.status_code == status
    html = response.content.decode()
    assert reason in html and "Typed with care" in html
    assert 'id="inbox-thread"' in html and 'id="inbox-queue"' in html  # the panes still render
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


def test_a_refused_reply_keeps_the_box_when_consent_changed_since_the_page_loaded(web):
    conversation = make_conversation()
    Contact.objects.filter(pk=conversation.contact_id).update(sms_consent=SmsConsent.OPTED_OUT)
    response = post(web, "inbox_reply", conversation, {"body": "Still there?"})
    assert response.status_code == 409
    assert "opted out" in response.content.decode()


def test_an_empty_reply_is_a_form_error(web):
    conversation = make_conversation()
    response = post(web, "inbox_reply", conversation, {"body": "   "})
    assert response.status_code == 400 and "Write a reply, or attach a file." in response.content.decode()


def test_opted_out_contacts_get_no_reply_box(web):
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_OUT)
    html = web.get(inbox_url(conversation=conversation.pk)).content.decode()
    assert "replies are blocked" in html and 'id="inbox-reply-body"' not in html


@pytest.mark.parametrize("htmx", [True, False])
def test_assign_to_me_to_someone_and_to_nobody(web, user, htmx):
    conversation = make_conversation()
    colleague = UserFactory(first_name="Cole", last_name="League")
    response = post(web, "inbox_assign", conversation, {"assignee": user.pk}, htmx=htmx)
    assert response.status_code == (200 if htmx else 302)
    conversation.refresh_from_db()
    assert conversation.assignee == user
    entry = timeline_entry(conversation)
    assert (entry.actor, entry.data["action"], entry.data["assignee"]) == (user, "assign", user.pk)
    post(web, "inbox_assign", conversation, {"assignee": colleague.pk}, htmx=htmx)
    conversation.refresh_from_db()
    assert conversation.assignee == colleague
    assert timeline_entry(conversation).summary == "Assigned to Cole League"
    post(web, "inbox_assign", conversation, {"assignee": ""}, htmx=htmx)
    conversation.refresh_from_db()
    assert conversation.assignee is None and timeline_entry(conversation).summary == "Unassigned"


def test_assign_to_an_unknown_user_is_400(web):
    conversation = make_conversation()
    response = post(web, "inbox_assign", conversation, {"assignee": 999999})
    assert response.status_code == 400 and "Choose an active user." in response.content.decode()


@pytest.mark.parametrize("htmx", [True, False])
def test_resolve_records_who_and_moves_to_the_next_one(web, user, htmx):
    conversation, after = make_conversation(), make_conversation()
    response = post(web, "inbox_resolve", conversation, {"then": after.pk}, htmx=htmx, query="view=all")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED and conversation.resolved_at is not None
    entry = timeline_entry(conversation)
    assert (entry.actor, entry.summary, entry.data["action"]) == (user, "Resolved", "resolve")
    expected = f"{reverse('inbox')}?view=all&conversation={after.pk}"
    notice = f"Resolved {conversation.contact}."
    if htmx:
        assert response["HX-Replace-Url"] == expected
        assert response.context["conversation"].pk == after.pk
        html = response.content.decode()
        assert conversation.pk not in queue_ids(html) and notice in html
    else:
        assert response.url == expected
        assert notice in web.get(response.url).content.decode()  # as a flash message


def test_the_page_tells_the_resolve_form_where_to_go_next(web):
    first, second = make_conversation(), make_conversation()
    order = queue_ids(web.get(inbox_url(view="all")).content.decode())
    html = web.get(inbox_url(view="all", conversation=order[0])).content.decode()
    form = html[html.index('id="inbox-resolve-form"') :]
    assert f'name="then" value="{order[1]}"' in form[: form.index("</form>")]
    assert {first.pk, second.pk} == set(order)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"preset": "1h"}, lambda now: now + timedelta(hours=1)),
        ({"preset": "tomorrow"}, lambda now: snooze_preset_until("tomorrow", now)),
        ({"preset": "next_week"}, lambda now: snooze_preset_until("next_week", now)),
    ],
)
def test_snooze_presets(web, user, data, expected):
    conversation = make_conversation()
    before = timezone.now()
    response = post(web, "inbox_snooze", conversation, data)
    assert response.status_code == 200
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.SNOOZED
    assert abs(conversation.snoozed_until - expected(before)) < timedelta(seconds=5)
    entry = timeline_entry(conversation)
    assert (entry.actor, entry.data["action"]) == (user, "snooze")


def test_snooze_preset_times_are_in_the_team_timezone(settings):
    settings.INBOX_TIMEZONE = "America/New_York"
    settings.INBOX_BUSINESS_HOURS_START = 9
    wednesday_noon = datetime(2025, 3, 5, 17, 0, tzinfo=UTC)  # 12:00 in New York
    tomorrow = snooze_preset_until("tomorrow", wednesday_noon)
    next_week = snooze_preset_until("next_week", wednesday_noon)
    assert tomorrow == datetime(2025, 3, 6, 14, 0, tzinfo=UTC)  # 09:00 EST
    assert next_week == datetime(2025, 3, 10, 13, 0, tzinfo=UTC)  # Monday 09:00 EDT


def test_snooze_until_a_typed_time_in_the_agents_timezone(web, user, settings):
    # One clock: the agent types (and reads) times in their own zone, not the team's.
    settings.INBOX_TIMEZONE = "Asia/Tokyo"
    user.timezone = "America/Chicago"
    user.save()
    conversation = make_conversation()
    local = timezone.localtime(timezone.now() + timedelta(days=2), zoneinfo.ZoneInfo("America/Chicago"))
    response = post(web, "inbox_snooze", conversation, {"until": f"{local:%Y-%m-%dT%H:%M}"}, htmx=False)
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.snoozed_until == local.replace(second=0, microsecond=0)


@pytest.mark.parametrize("until", ["", "2001-01-01T09:00", "not a date"])
def test_snooze_needs_a_future_time(web, until):
    conversation = make_conversation()
    response = post(web, "inbox_snooze", conversation, {"until": until})
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


@pytest.mark.parametrize("htmx", [True, False])
def test_relabel_keeps_the_label_and_records_who(web, user, htmx):
    conversation = make_conversation(intent="other")
    response = post(web, "inbox_relabel", conversation, {"intent": "pricing"}, htmx=htmx)
    assert response.status_code == (200 if htmx else 302)
    conversation.refresh_from_db()
    assert conversation.intent == "pricing" and conversation.sla_due_at is not None
    label = IntentLabel.objects.get()
    assert (label.predicted, label.intent, label.labelled_by) == ("other", "pricing", user)
    entry = timeline_entry(conversation)
    assert (entry.actor, entry.data["action"], entry.data["intent"]) == (user, "relabel", "pricing")


def test_relabel_to_an_unknown_intent_is_400(web):
    conversation = make_conversation(intent="other")
    assert post(web, "inbox_relabel", conversation, {"intent": "gossip"}).status_code == 400
    assert not IntentLabel.objects.exists()


def test_record_opt_out_is_offered_for_opt_out_intent_and_records_consent(web, user):
    conversation = make_conversation(intent="opt_out", body="please stop texting me")
    other = make_conversation(intent="help")
    html = web.get(inbox_url(conversation=other.pk)).content.decode()
    assert reverse("inbox_record_opt_out", args=[other.pk]) not in html
    html = web.get(inbox_url(conversation=conversation.pk)).content.decode()
    assert reverse("inbox_record_opt_out", args=[conversation.pk]) in html and "data-confirm" in html
    response = post(web, "inbox_record_opt_out", conversation, htmx=False)
    assert response.status_code == 302
    event = ConsentEvent.objects.get(contact=conversation.contact)
    assert (event.action, event.source, event.actor) == ("opt_out", "agent", user)
    assert event.proof["message"] == "please stop texting me"
    conversation.refresh_from_db()
    conversation.contact.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    assert conversation.contact.sms_consent == SmsConsent.OPTED_OUT
    assert timeline_entry(conversation).actor == user


@pytest.mark.parametrize("name", ["inbox_reply", "inbox_assign", "inbox_resolve", "inbox_snooze"])
def test_actions_are_post_only_and_404_for_unknown_ids(web, name):
    assert web.get(reverse(name, args=[1])).status_code == 405
    assert web.post(reverse(name, args=[999999]), {}).status_code == 404


def test_actions_need_the_csrf_token(client, user):
    client = type(client)(enforce_csrf_checks=True)
    client.force_login(user)
    conversation = make_conversation()
    assert client.post(reverse("inbox_resolve", args=[conversation.pk])).status_code == 403
    page = client.get(inbox_url(conversation=conversation.pk)).content.decode()
    assert "X-CSRFToken" in page and 'name="csrfmiddlewaretoken"' in page


def test_any_agent_may_act_on_a_colleagues_conversation(web, user):
    colleague = UserFactory()
    conversation = make_conversation(assignee=colleague)
    post(web, "inbox_resolve", conversation)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED and conversation.assignee == colleague
    assert timeline_entry(conversation).actor == user


# --- Front-end assets ---------------------------------------------------------------------------

INBOX_JS = Path(__file__).resolve().parents[3] / "static" / "js" / "inbox.js"


def test_inbox_js_is_our_own_and_offline():
    source = INBOX_JS.read_text()
    assert not re.search(r"https?://", source)
    for key in ('case "j"', 'case "k"', 'case "e"', 'case "r"', 'case "?"'):
        assert key in source
    assert "isTyping(event.target)" in source  # shortcuts are ignored while typing


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_inbox_js_parses():
    subprocess.run([shutil.which("node"), "--check", str(INBOX_JS)], check=True)


# --- Query counts -------------------------------------------------------------------------------


def bulk_conversations(count: int, *, assignee=None) -> None:
    """``count`` open conversations, each with a contact and an inbound message (bulk inserts)."""
    start = Contact.objects.count()
    account = AccountFactory()
    contacts = Contact.objects.bulk_create(
        Contact(
            account=account,
            first_name=f"Bulk{n}",
            last_name="Customer",
            email=f"bulk{start + n}@example.com",
            phone=f"+1646{3000000 + start + n:07d}",
            phone_valid=True,
            sms_consent=SmsConsent.OPTED_IN,
        )
        for n in range(count)
    )
    now = timezone.now()
    messages = Message.objects.bulk_create(
        Message(
            contact=contact,
            direction=Direction.INBOUND,
            kind=MessageKind.INBOUND,
            body=f"Help with thing {n}",
            to_number="+15005550006",
            status=MessageStatus.RECEIVED,
            intent="help",
        )
        for n, contact in enumerate(contacts)
    )
    Conversation.objects.bulk_create(
        Conversation(
            contact=contact,
            assignee=assignee,
            intent="help",
            sla_due_at=now + timedelta(minutes=n % 600 - 300),
            last_inbound_at=now - timedelta(seconds=n),
            awaiting_since=now - timedelta(seconds=n),
            last_message=message,
        )
        for n, (contact, message) in enumerate(zip(contacts, messages, strict=True))
    )


# Session + user, the queue (count + page), tab counts, the default view, the selected
# conversation, its thread (and the thread's MMS media) and private notes, renewal, deals, last
# outbound, timeline, consent, its effective texting state (the number's suppression and pending
# review), saved replies, the agents list, the texts scheduled to the contact and the upsert
# that reads the conversation for the agent (unread state itself is in the page's query).
PAGE_QUERIES = 20


def test_the_inbox_page_runs_a_constant_number_of_queries(web, user, django_assert_max_num_queries):
    bulk_conversations(5, assignee=user)
    selected = Conversation.objects.first().pk
    DealFactory(account=Conversation.objects.first().contact.account)
    with django_assert_max_num_queries(PAGE_QUERIES):
        small = web.get(reverse("inbox") + f"?conversation={selected}")
    assert len(queue_ids(small.content.decode())) == 5
    bulk_conversations(10_000, assignee=user)
    with django_assert_max_num_queries(PAGE_QUERIES):
        large = web.get(reverse("inbox") + f"?conversation={selected}")
    html = large.content.decode()
    assert len(queue_ids(html)) == 50 and "1\u201350 of 10005" in html
    with django_assert_max_num_queries(PAGE_QUERIES):
        web.get(reverse("inbox") + "?q=thing+99")
    with django_assert_max_num_queries(5):  # the polled list: session, user, count, page, tab counts
        web.get(reverse("inbox_queue") + "?view=all")
