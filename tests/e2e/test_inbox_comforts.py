"""Inbox comforts in a real browser: "/" in the reply box opens the saved replies by name (typed,
arrowed, picked with Enter or a click), the unread dot goes when a conversation is opened and
comes back with "Mark unread", and a photo goes without text. No console errors throughout."""

import re

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips these tests, or fails them in CI, saying why
    expect = None

from sms.models import Message, SavedReply
from tests.e2e.test_csm_day import PNG, _conversation, media_root  # noqa: F401 (a fixture)
from tests.e2e.test_journeys import NO_RELOAD_MARK

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _saved_replies():
    SavedReply.objects.create(name="thanks", body="Thanks {first_name}, glad it works!", position=1)
    SavedReply.objects.create(
        name="export-fix", body="Try the export again from Settings > Data.", position=2
    )
    SavedReply.objects.create(name="call", body="Can I call you this afternoon?", position=3)


def test_slash_opens_saved_replies_by_name(browsing, user):
    _saved_replies()
    _, conversation = _conversation(user)
    page = browsing.page
    browsing.log_in("alice")
    browsing.goto(f"/inbox/?conversation={conversation.pk}")
    page.evaluate(f"{NO_RELOAD_MARK} = true")
    box = page.locator("#inbox-reply-body")
    menu = page.get_by_role("listbox", name="Saved replies")

    # "/" at the start opens every saved reply; typing filters them by name.
    box.click()
    box.press_sequentially("/")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("option")).to_have_count(3)
    box.press_sequentially("ex")
    expect(menu.get_by_role("option")).to_have_count(1)
    expect(menu.get_by_role("option", name="/export-fix")).to_have_attribute("aria-selected", "true")
    assert box.get_attribute("aria-activedescendant") == menu.get_by_role("option").get_attribute("id")
    browsing.step("slash-filtered")
    box.press("Enter")  # inserts, no newline, nothing sent
    expect(menu).to_be_hidden()
    expect(box).to_have_value("Try the export again from Settings > Data.")
    assert not Message.objects.filter(direction="outbound").exists()

    # After a space, with the arrows; the reply is filled in for the contact.
    box.press_sequentially(" /")
    expect(menu.get_by_role("option")).to_have_count(3)
    box.press("ArrowDown")
    expect(menu.get_by_role("option", name="/export-fix")).to_have_attribute("aria-selected", "true")
    box.press("ArrowUp")
    box.press("Tab")
    expect(box).to_have_value("Try the export again from Settings > Data. Thanks Dana, glad it works!")
    expect(box).to_be_focused()

    # Esc closes the list and leaves the text (and the box) alone; a "/" inside a word opens nothing.
    box.press_sequentially(" /ca")
    expect(menu).to_be_visible()
    box.press("Escape")
    expect(menu).to_be_hidden()
    expect(box).to_be_focused()
    box.press_sequentially("n and/or")
    expect(menu).to_be_hidden()

    # No match says so; a click picks.
    box.fill("")
    box.press_sequentially("/zzz")
    expect(menu.get_by_text("No saved reply by that name.")).to_be_visible()
    box.press("Backspace")
    box.press("Backspace")
    box.press("Backspace")
    menu.get_by_role("option", name="/call").click()
    expect(box).to_have_value("Can I call you this afternoon?")
    expect(page.locator("#inbox-counter")).to_contain_text("30 characters")
    browsing.step("slash-clicked")

    page.get_by_role("button", name="Send reply", exact=True).click()
    expect(
        page.locator("#inbox-messages .sms-outbound", has_text="Can I call you this afternoon?")
    ).to_be_visible()
    assert page.evaluate(NO_RELOAD_MARK)
    browsing.step("slash-sent")


def test_unread_dot_mark_unread_and_a_photo_without_text(browsing, user, media_root, tmp_path):  # noqa: F811
    _, conversation = _conversation(user)
    page = browsing.page
    browsing.log_in("alice")
    browsing.goto("/inbox/?view=all")
    row = page.locator(f'[data-conversation-row="{conversation.pk}"]')
    expect(row).to_have_class(re.compile(r"\bis-unread\b"))
    expect(row.locator(".inbox-unread-dot")).to_be_visible()
    browsing.step("unread")

    row.get_by_role("link").click()
    expect(row.locator(".inbox-unread-dot")).to_have_count(0)
    page.get_by_role("button", name="Mark unread").click()
    expect(page.locator(".inbox-notice")).to_contain_text("as unread")
    expect(row.locator(".inbox-unread-dot")).to_be_visible()
    page.locator(".inbox-unread-filter").click()
    expect(page.locator("[data-conversation-row]")).to_have_count(1)
    browsing.step("unread-filter")

    row.get_by_role("link").click()  # read now, and kept in the Unread list while it is open
    expect(row).not_to_have_class(re.compile(r"\bis-unread\b"))
    expect(row).to_have_class(re.compile(r"\bis-selected\b"))
    image = tmp_path / "photo.png"
    image.write_bytes(PNG)
    page.locator("#inbox-attachment").set_input_files(str(image))
    page.get_by_role("button", name="Send reply", exact=True).click()
    expect(page.locator("#inbox-messages .sms-outbound .sms-media img")).to_be_visible()
    assert Message.objects.get(direction="outbound").body == ""
    browsing.step("photo-alone")
