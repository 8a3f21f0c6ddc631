"""What a person does in a real browser, end to end against the live server: log in, find an
account, text a contact, work the simulated reply in the inbox as it arrives (relabel, reply,
resolve), build a play with its live preview, read the analytics charts.

Each step is screenshotted (tests/e2e/conftest.py) and fails on any console error, CSP violation,
uncaught exception or server error. Texts go through the console provider; the test plays the
worker (delivery) and the customer (inbound texts)."""

from datetime import timedelta
from itertools import count

import pytest
from django.utils import timezone

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips these tests, or fails them in CI, saying why
    expect = None

from crm.models import SmsConsent
from plays.models import Enrollment, Play, PlayStatus
from sms.inbound import inbound_receive
from sms.models import ConsentEvent, Conversation, ConversationStatus, Direction, IntentLabel, Message
from sms.providers.console import CONSOLE_FROM
from sms.services.consent import consent_record
from sms.tasks import deliver_messages
from tests.analytics.test_api import book
from tests.factories import AccountFactory, ContactFactory, RenewalFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# Polls run every 2 s (contact thread), 3 s (inbox thread) and 5 s (inbox queue).
POLL_WAIT_MS = 15_000
NO_RELOAD_MARK = "window.__e2eSamePage"
_sids = count(1)


def customer_texts(contact, body: str):
    """The customer answers: the provider's webhook would call this service."""
    result = inbound_receive(
        provider_sid=f"SMe2e{next(_sids):028d}", from_number=contact.phone, to_number=CONSOLE_FROM, body=body
    )
    assert result.message is not None
    return result.message


def opt_in(contact):
    consent_record(
        contact=contact, action="opt_in", source="web_form", proof={"disclosure": "Texts about your account"}
    )


def test_the_watcher_catches_csp_violations_and_script_errors(browsing):
    """The guard every other test relies on: an inline script is refused by our CSP and that
    fails the step; so does an uncaught exception."""
    browsing.goto("/login/")
    browsing.page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.head.appendChild(script);
        setTimeout(() => { throw new Error("boom from the page"); }, 0);
    }"""
    )
    browsing.page.wait_for_timeout(200)
    assert browsing.page.evaluate("window.inlineRan === undefined")
    with pytest.raises(AssertionError) as failure:
        browsing.step("watcher-self-test")
    assert "Content Security Policy" in str(failure.value) or "CSP violation" in str(failure.value)
    assert "script-src" in str(failure.value)
    assert "boom from the page" in str(failure.value)


def test_texting_a_customer_and_working_the_reply_in_the_inbox(browsing, user):
    account = AccountFactory(name="Zephyr Analytics", owner=user)
    AccountFactory(name="Acme Rockets")
    contact = ContactFactory(account=account, first_name="Dana", last_name="Reyes")
    page = browsing.page

    browsing.log_in("alice")
    browsing.step("dashboard")

    # Find the account.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Accounts").click()
    page.get_by_label("Search").fill("zephyr")
    page.get_by_role("button", name="Filter").click()
    results = page.locator("table.table tbody")
    expect(results.get_by_role("link", name="Zephyr Analytics")).to_be_visible()
    expect(results.get_by_role("link", name="Acme Rockets")).to_have_count(0)
    browsing.step("accounts-search")
    results.get_by_role("link", name="Zephyr Analytics").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Zephyr Analytics")
    browsing.step("account")

    # The contact: record the opt-in with proof, then send a text.
    page.get_by_role("link", name="Dana Reyes").click()
    panel = page.locator("#sms-panel")
    expect(panel).to_contain_text("has not opted in")
    browsing.step("contact-not-opted-in")
    panel.locator("summary", has_text="Consent history").click()
    panel.locator("select[name=action]").select_option("opt_in")
    panel.get_by_placeholder("Proof: how they agreed").fill("Asked for texts on the onboarding call")
    panel.get_by_role("button", name="Record").click()
    box = panel.get_by_placeholder("Text Dana Reyes…")
    expect(box).to_be_visible()
    assert ConsentEvent.objects.get(contact=contact).proof == {
        "note": "Asked for texts on the onboarding call"
    }
    text = "Hi Dana, your workspace is ready. Want a 15 minute tour this week?"
    box.fill(text)
    expect(panel.locator("#sms-counter")).to_have_text(f"{len(text)} characters · 1 segment · GSM-7")
    panel.get_by_role("button", name="Send text").click()
    bubble = page.locator("#sms-thread .sms-outbound", has_text=text)
    expect(bubble).to_contain_text("Queued")
    sent = Message.objects.get(contact=contact, direction=Direction.OUTBOUND)
    assert (sent.body, sent.kind, sent.sent_by) == (text, "manual", user)
    browsing.step("contact-text-queued")
    # The worker delivers it; the open thread shows the new status by itself.
    assert deliver_messages([sent.pk]) == {"sent": 1}
    expect(bubble.locator(".badge")).to_have_text("Sent", timeout=POLL_WAIT_MS)
    browsing.step("contact-text-sent")

    # The inbox: the reply arrives while the page is open, without a reload.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    expect(page.locator("#inbox-queue")).to_contain_text("All caught up")
    page.evaluate(f"{NO_RELOAD_MARK} = true")
    browsing.step("inbox-empty")
    question = "Thanks! How much would the Pro plan cost for 40 seats?"
    customer_texts(contact, question)
    row = page.locator("#inbox-queue [data-conversation-row]", has_text="Dana Reyes")
    expect(row).to_contain_text(question, timeout=POLL_WAIT_MS)
    assert page.evaluate(NO_RELOAD_MARK)
    browsing.step("inbox-reply-arrived")

    row.get_by_role("link").click()
    thread = page.locator("#inbox-messages")
    expect(thread).to_contain_text(question)
    expect(page.locator(".inbox-thread-head h2")).to_have_text("Dana Reyes")
    conversation = Conversation.objects.get(contact=contact)
    assert (conversation.intent, conversation.assignee) == ("pricing", user)  # routed to the owner
    badges = page.locator(".inbox-thread-badges")
    expect(badges).to_contain_text("Open")
    expect(badges).to_contain_text("Pricing / upgrade interest")
    follow_up = "The analytics team would start first, then sales."  # classified "other"
    customer_texts(contact, follow_up)
    expect(thread).to_contain_text(follow_up, timeout=POLL_WAIT_MS)
    assert page.evaluate(NO_RELOAD_MARK)
    browsing.step("inbox-thread-live")

    # Relabel the intent.
    page.locator("#inbox-intent-relabel").select_option("meeting")
    expect(badges).to_contain_text("Meeting request")
    conversation.refresh_from_db()
    assert conversation.intent == "meeting"
    label = IntentLabel.objects.get(labelled_by=user)
    assert (label.message.body, label.predicted, label.intent) == (follow_up, "other", "meeting")
    browsing.step("inbox-relabelled")

    # Reply.
    answer = "Happy to help, Dana. Pro is $12 a seat; shall we walk the analytics team through it Thursday?"
    page.locator("#inbox-reply-body").fill(answer)
    page.get_by_role("button", name="Send reply", exact=True).click()
    expect(thread.locator(".sms-outbound", has_text=answer)).to_be_visible()
    expect(page.locator("#inbox-reply-body")).to_have_value("")
    reply = Message.objects.get(contact=contact, body=answer)
    assert (reply.direction, reply.kind, reply.sent_by) == (Direction.OUTBOUND, "reply", user)
    browsing.step("inbox-replied")

    # Resolve: the conversation leaves the open queue.
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator(".inbox-notice")).to_have_text("Resolved Dana Reyes.")
    expect(page.locator("#inbox-queue [data-conversation-row]")).to_have_count(0)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    assert page.evaluate(NO_RELOAD_MARK), "the inbox reloaded: the whole session should be one page"
    browsing.step("inbox-resolved")


def test_creating_a_play_with_its_live_dry_run_preview(browsing, user):
    account = AccountFactory(name="Northwind Traders", owner=user)
    today = timezone.now().date()
    RenewalFactory(
        account=account, start_date=today - timedelta(days=330), end_date=today + timedelta(days=35)
    )
    contact = ContactFactory(account=account, first_name="Priya", last_name="Shah")
    opt_in(contact)
    assert contact.sms_consent == SmsConsent.OPTED_IN
    page = browsing.page

    browsing.log_in("alice")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Plays").click()
    page.get_by_role("link", name="New play").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New play")
    browsing.step("play-editor")

    page.get_by_label("Name", exact=True).fill("Renewal heads-up")
    page.get_by_label("Moment", exact=True).select_option("renewal")
    page.get_by_label("Trigger", exact=True).select_option("renewal_window")
    # Only the chosen trigger's parameters show (CSS :has, no script).
    expect(page.get_by_label("Event name")).to_be_hidden()
    page.get_by_label("Days", exact=True).fill("60")
    page.get_by_label("Holdout %", exact=True).fill("0")
    template = "Hi {first_name}, {account} renews on {renewal_date}. Reply with any questions."
    page.get_by_label("Message", exact=True).fill(template)
    expect(page.locator("#play-template-counter")).to_contain_text(f"{len(template)} characters")

    preview = page.locator("#play-preview")
    expect(preview).to_contain_text("A dry run now: nothing is saved or sent.")
    counts = preview.locator(".preview-counts")
    expect(counts.locator("div", has_text="Audience").locator("dd")).to_have_text("1")
    expect(counts.locator("div", has_text="Sent").locator("dd")).to_have_text("1")
    expect(preview.locator(".preview-samples")).to_contain_text("Hi Priya, Northwind Traders renews on")
    # "updating…" shows only while a preview request is in flight.
    expect(page.locator("#play-preview-indicator")).to_be_hidden()
    assert Message.objects.count() == 0 and Enrollment.objects.count() == 0
    browsing.step("play-preview")

    # A mistake shows in the preview at once.
    page.get_by_label("Days", exact=True).fill("")
    expect(preview).to_contain_text("Fix these to see a preview")
    expect(preview).to_contain_text("Days")
    browsing.step("play-preview-error")
    page.get_by_label("Days", exact=True).fill("60")
    expect(preview.locator(".preview-samples")).to_contain_text("Hi Priya")

    page.get_by_role("button", name="Create draft").click()
    expect(page.locator(".flashes")).to_contain_text("created as a draft")
    play = Play.objects.get(name="Renewal heads-up")
    assert page.url == browsing.url(f"/plays/{play.pk}/")
    assert (play.status, play.trigger, play.template) == (
        PlayStatus.DRAFT,
        {"type": "renewal_window", "days": 60},
        template,
    )
    assert Message.objects.count() == 0 and Enrollment.objects.count() == 0
    browsing.step("play-created")


CHARTS = ("chart-lift", "chart-nrr", "chart-ltv", "chart-retention", "chart-cohort-nrr", "chart-leakage")


def test_analytics_dashboard_renders_its_charts(browsing, user):
    book(6)
    page = browsing.page
    browsing.log_in("alice")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Analytics")
    for testid in CHARTS:
        svg = page.get_by_test_id(testid).locator("svg").first
        expect(svg).to_be_visible()
        box = svg.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 40, (testid, box)
    # Charts with data draw marks, not the "No data yet" placeholder.
    for testid in ("chart-lift", "chart-nrr", "chart-ltv", "chart-retention"):
        chart = page.get_by_test_id(testid)
        expect(chart).not_to_contain_text("No data yet")
        assert chart.locator("rect, path, circle, polyline, line").count() > 3, testid
    browsing.step("analytics")
