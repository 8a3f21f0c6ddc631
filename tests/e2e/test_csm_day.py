"""The CSM's day in a real browser: the bell counts a new reply without a reload, send later
schedules a text shown in the thread, an attached image shows inline in the thread, and a form
the server rejects shows its message in place."""

import re
import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips these tests, or fails them in CI, saying why
    expect = None

from crm.models import SmsConsent
from sms.models import Conversation, Message
from tests.e2e.test_journeys import NO_RELOAD_MARK, POLL_WAIT_MS, customer_texts
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _conversation(user):
    account = AccountFactory(name="Zephyr Analytics", owner=user)
    contact = ContactFactory(
        account=account, first_name="Dana", last_name="Reyes", sms_consent=SmsConsent.OPTED_IN
    )
    customer_texts(contact, "Can you help? The export is broken")
    return contact, Conversation.objects.get(contact=contact)


def test_the_bell_counts_a_new_reply_without_a_reload(browsing, user):
    contact, _ = _conversation(user)
    page = browsing.page
    browsing.log_in("alice")
    bell = page.locator("#notification-bell")
    expect(bell.locator(".bell-count")).to_have_text("1")  # routed to alice: assigned
    page.evaluate(f"{NO_RELOAD_MARK} = true")
    customer_texts(contact, "Any news on the export?")
    expect(bell.locator(".bell-count")).to_have_text("2", timeout=POLL_WAIT_MS + 10_000)
    assert page.evaluate(NO_RELOAD_MARK)
    browsing.step("bell-two-unread")
    bell.click()
    expect(page.locator("#notifications")).to_contain_text("Dana Reyes replied")
    page.get_by_role("button", name="Mark all read").click()
    expect(bell.locator(".bell-count")).to_have_count(0)
    browsing.step("bell-read")


def test_send_later_an_attachment_and_a_rejected_form_in_the_inbox(browsing, user, media_root, tmp_path):
    user.timezone = "America/Chicago"
    user.save()
    _, conversation = _conversation(user)
    page = browsing.page
    browsing.log_in("alice")
    browsing.goto(f"/inbox/?conversation={conversation.pk}")
    page.evaluate(f"{NO_RELOAD_MARK} = true")

    # A reply of only spaces: the message shows in place, the page stays.
    page.locator("#inbox-reply-body").fill("   ")
    page.locator("#inbox-reply-body").evaluate("el => el.removeAttribute('required')")
    page.get_by_role("button", name="Send reply", exact=True).click()
    expect(page.locator("#inbox-reply-form .field-error")).to_be_visible()
    expect(page.locator("#inbox-queue")).to_be_visible()
    assert page.evaluate(NO_RELOAD_MARK)
    # The browser logs the expected 400 itself; nothing else may have gone wrong.
    problems = browsing.problems.take()
    assert problems and all("status of 400" in problem for problem in problems), problems
    browsing.step("rejected-in-place")

    # Send later.
    page.locator("#inbox-reply-body").fill("I'll call you tomorrow at nine")
    page.locator(".sms-later summary").click()
    day = (timezone.now() + timedelta(days=2)).astimezone(zoneinfo.ZoneInfo("America/Chicago")).date()
    page.locator("#inbox-send-at").fill(f"{day:%Y-%m-%d}T09:00")
    page.get_by_role("button", name="Schedule").click()
    shown = re.compile(rf"{day:%b} {day.day}, 09:00 C[SD]T")  # in alice's zone, named
    expect(page.locator(".inbox-notice")).to_contain_text(shown)
    scheduled = Message.objects.get(status="scheduled")
    expect(page.locator(f'[data-scheduled="{scheduled.pk}"]')).to_contain_text(shown)
    browsing.step("scheduled")

    # An image attached: sent as MMS and shown inline in the thread.
    image = tmp_path / "screenshot.png"
    image.write_bytes(PNG)
    page.locator("#inbox-reply-body").fill("Here is where to click")
    page.locator("#inbox-attachment").set_input_files(str(image))
    page.get_by_role("button", name="Send reply", exact=True).click()
    bubble = page.locator("#inbox-messages .sms-outbound", has_text="Here is where to click")
    expect(bubble.locator(".sms-media img")).to_be_visible()
    assert bubble.locator(".sms-media img").evaluate("img => img.naturalWidth") == 1
    assert page.evaluate(NO_RELOAD_MARK)
    browsing.step("mms-thread")
