"""Issue 20 in a real browser: the global search box (shortcut, results as you type, a phone in
national format), a searchable picker, a saved view and a bulk action, with no console error."""

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips these tests, or fails them in CI, saying why
    expect = None

from crm.models import Contact, SavedView
from tests.factories import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_search_box_picker_saved_view_and_bulk_owner(browsing, user):
    account = AccountFactory(name="Zephyr Analytics", owner=user)
    dana = ContactFactory(account=account, first_name="Dana", last_name="Reyes", phone="+14155552671")
    ContactFactory(first_name="Sam", last_name="Other")
    UserFactory(username="bob", first_name="Bob", last_name="Builder")
    page = browsing.page
    browsing.log_in("alice")

    # "/" focuses the search box; a national-format number finds the contact as it is typed.
    page.keyboard.press("/")
    expect(page.locator("#global-search")).to_be_focused()
    page.keyboard.type("(415) 555-2671")
    results = page.get_by_test_id("search-results")
    expect(results.get_by_role("link", name="Dana Reyes")).to_be_visible()
    browsing.step("search-as-you-type")
    results.get_by_role("link", name="Dana Reyes").click()
    expect(page.get_by_role("heading", name="Dana Reyes")).to_be_visible()

    # A task for Zephyr, its account picked by typing.
    browsing.goto("/tasks/new/")
    page.get_by_label("Title").fill("Call about renewal")
    page.get_by_label("Account").fill("zeph")
    page.get_by_role("button", name="Zephyr Analytics").click()
    expect(page.get_by_label("Account")).to_have_value("Zephyr Analytics")
    browsing.step("picker")
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_text("Task “Call about renewal” created")).to_be_visible()
    assert account.tasks.get().title == "Call about renewal"

    # Contacts sorted by name descending, kept as a view.
    browsing.goto("/contacts/")
    expect(page.locator("tbody tr").first).to_contain_text("Sam Other")
    page.get_by_role("link", name="Name ▲").click()  # sorted by name now: the other way
    expect(page.get_by_role("link", name="Name ▼")).to_be_visible()
    expect(page.locator("tbody tr").first).to_contain_text("Dana Reyes")  # Reyes before Other
    page.get_by_text("Save view").click()
    page.get_by_label("Name", exact=True).fill("Z to A")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("link", name="Z to A")).to_be_visible()
    assert SavedView.objects.get(name="Z to A").query == "sort=-name"
    browsing.step("saved-view")

    # Bulk: both contacts to Bob.
    page.get_by_label("Select all on this page").check()
    page.locator(".bulk-owner input[type=search]").fill("bob")
    page.get_by_role("button", name="Bob Builder").click()
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("2 contacts now owned by Bob Builder")).to_be_visible()
    assert set(Contact.objects.values_list("owner__username", flat=True)) == {"bob"}
    assert dana.pk in Contact.objects.values_list("pk", flat=True)
    browsing.step("bulk-owner")
