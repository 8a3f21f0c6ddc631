"""Issue 20 in a real browser: the home page for a lifecycle team (its panels load with no console
error), the small-screen menu and the contact page's conversation first at 390 px, and the deal
board's drag and drop, its keyboard path and its sideways scroll to "Closed lost" at 1440 px."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips these tests, or fails them in CI, saying why
    expect = None

from crm.models import Deal, LifecycleStage
from sms.models import Conversation, ConversationStatus
from tests.factories import AccountFactory, ContactFactory, DealFactory, RenewalFactory, TaskFactory, stage

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1440, "height": 900}


def test_home_page_shows_what_needs_the_team_today(browsing, user):
    now = timezone.now()
    risky = AccountFactory(name="Risky Co", lifecycle_stage=LifecycleStage.AT_RISK, owner=user)
    RenewalFactory(
        account=risky, start_date=now.date() - timedelta(days=300), end_date=now.date() + timedelta(days=20),
        acv=Decimal("4200"),
    )  # fmt: skip
    Conversation.objects.create(
        contact=ContactFactory(account=risky, first_name="Dana", last_name="Reyes"),
        status=ConversationStatus.OPEN, assignee=user, awaiting_since=now - timedelta(minutes=30),
        sla_due_at=now + timedelta(minutes=10),
    )  # fmt: skip
    TaskFactory(owner=user, title="Call Risky Co", due_at=now + timedelta(days=1))
    page = browsing.page
    browsing.log_in("alice")

    expect(page.get_by_test_id("waiting-mine")).to_have_text("1")
    expect(page.get_by_test_id("at-risk-mine")).to_have_text("1")
    expect(page.get_by_test_id("home-replies").get_by_role("link", name="Dana Reyes")).to_be_visible()
    expect(page.get_by_test_id("plays-sent")).to_have_text("0")
    expect(page.get_by_test_id("renewals-arr")).to_have_text("$4,200")
    renewals = page.get_by_test_id("home-renewals").get_by_role("table")
    expect(renewals.get_by_text("At risk", exact=True)).to_be_visible()
    expect(page.get_by_test_id("home-tasks").get_by_role("link", name="Call Risky Co")).to_be_visible()
    browsing.step("home")


def test_phone_menu_folds_and_the_conversation_comes_first(browsing, user):
    contact = ContactFactory(first_name="Dana", last_name="Reyes")
    page = browsing.page
    browsing.log_in("alice")  # it checks the main navigation is visible: at desktop size
    page.set_viewport_size(PHONE)
    browsing.goto("/")

    menu_button = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(menu_button).to_be_visible()
    expect(menu_button).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    topbar = page.locator(".topbar").bounding_box()
    brand = page.locator(".brand").bounding_box()
    assert topbar["height"] < 2 * brand["height"] + 30, topbar  # one row: brand and button
    browsing.step("menu-folded")

    # Keyboard: the button opens the menu with Enter and Escape closes it again.
    menu_button.focus()
    page.keyboard.press("Enter")
    expect(menu_button).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Contacts")).to_be_visible()
    browsing.step("menu-open")
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(menu_button).to_be_focused()

    browsing.goto(f"/contacts/{contact.pk}/")
    panel = page.locator("#sms-panel")
    details = page.locator(".detail-side")
    expect(panel.get_by_role("heading", name="Text messages")).to_be_visible()
    assert panel.bounding_box()["y"] < details.bounding_box()["y"]
    browsing.step("contact-sms-first")


def _column(page, name):
    return page.locator(".board-column").filter(has=page.get_by_role("heading", name=name))


def test_board_drag_keyboard_move_and_sideways_scroll(browsing, user):
    dragged = DealFactory(name="Acme expansion", stage=stage("qualification"), owner=user)
    keyed = DealFactory(name="Globex seats", stage=stage("qualification"), owner=user)
    page = browsing.page
    page.set_viewport_size(LAPTOP)
    browsing.log_in("alice")
    browsing.goto("/deals/")

    # A drag from Qualification to Proposal moves the deal, and the move is saved.
    card = page.locator(".deal-card").filter(has_text="Acme expansion")
    card.drag_to(_column(page, "Proposal"))
    expect(_column(page, "Proposal").locator(".deal-card").filter(has_text="Acme expansion")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Moved “Acme expansion” to Proposal")
    dragged.refresh_from_db()
    assert dragged.stage.slug == "proposal"
    browsing.step("dragged")

    # The keyboard path: the card's "Move to" select, then Enter on its button.
    select = page.get_by_label("Move Globex seats to stage")
    select.focus()
    select.select_option(label="Closed lost")
    closed_lost = _column(page, "Closed lost")
    expect(closed_lost.locator(".deal-card").filter(has_text="Globex seats")).to_be_attached()
    keyed.refresh_from_db()
    assert keyed.stage.slug == "closed-lost"
    assert Deal.objects.get(pk=dragged.pk).stage.slug == "proposal"

    # At 1440 px the board scrolls sideways (the page does not) and "Closed lost" is reachable.
    board = page.locator(".board")
    sizes = board.evaluate("b => [b.scrollWidth, b.clientWidth, document.documentElement.scrollWidth]")
    assert sizes[0] > sizes[1] and sizes[2] <= LAPTOP["width"], sizes
    expect(closed_lost.get_by_role("heading", name="Closed lost")).not_to_be_in_viewport()
    board.focus()  # the board takes focus, so the arrow keys scroll it
    for _ in range(15):
        page.keyboard.press("ArrowRight")
    expect(closed_lost.get_by_role("heading", name="Closed lost")).to_be_in_viewport()
    browsing.step("closed-lost-reachable")
