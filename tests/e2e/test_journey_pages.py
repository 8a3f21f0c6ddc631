"""Journeys in a real browser: a manager builds a play's steps in the step editor (a send with two
variants, a wait, a reorder, the exits) and finds them on the play page; then reads a running
journey's page (per-step counts, the variants panel loaded by htmx) and promotes a variant.

Each step is screenshotted and fails on any console error, CSP violation, uncaught exception or
server error (tests/e2e/conftest.py)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips these tests, or fails them in CI, saying why
    expect = None

from plays.engine import play_run
from plays.models import Enrollment, PlayStatus, StepDecision
from tests.plays.conftest import make_play
from tests.plays.journeys import entering, journey, send

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# The play page's step table (the variants panel inside the same section has its own table).
STEP_ROWS = ".journey-funnel table.journey-steps tbody tr"


def _add_step(page, kind: str, **fields) -> None:
    """Fill the "Add a step" form (labels as a person reads them) and submit it."""
    form = page.locator("form", has=page.get_by_role("button", name="Add step"))
    form.get_by_label("Type", exact=True).select_option(kind)
    for label, value in fields.items():
        field = form.get_by_label(label, exact=True)
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(str(value))
    form.get_by_role("button", name="Add step").click()


def test_building_a_journey_in_the_step_editor(browsing, user):
    play = make_play(
        name="Welcome texts",
        moment="onboarding",
        trigger={"type": "event", "event": "signed_up"},
        template="Hi {first_name}, welcome aboard.",
        status=PlayStatus.DRAFT,
    )
    page = browsing.page
    steps = page.locator("#journey-steps ol.journey-steps > li")

    browsing.log_in("alice")
    browsing.goto(f"/plays/{play.pk}/")
    page.get_by_role("link", name="Make it a journey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Journey steps")
    expect(page.locator("#journey-steps")).to_contain_text("No steps: the play sends its message once.")
    browsing.step("editor-empty")

    # A send step with two variants, weighted 1:3.
    _add_step(
        page,
        "send",
        **{
            "Text (variant A)": "Hi {first_name}, your workspace is ready.",
            "Weight A": 1,
            "Text (variant B, optional)": "Welcome {first_name}! Reply TOUR for a 15 minute walkthrough.",
            "Weight B": 3,
        },
    )
    expect(steps).to_have_count(1)
    expect(steps.nth(0)).to_contain_text("Send a text (variants: A (1), B (3))")
    expect(steps.nth(0).locator(".sms-bubble")).to_have_count(2)
    browsing.step("editor-send-added")

    # A wait, added after it.
    _add_step(page, "wait", Wait=2, Unit="days")
    expect(steps).to_have_count(2)
    expect(steps.nth(1)).to_contain_text("Wait 2 days")
    browsing.step("editor-wait-added")

    # A journey needs a send step: removing the only one is refused with the reason.
    page.get_by_role("button", name="Remove step 0").click()
    expect(page.locator("#journey-steps [role=alert]")).to_contain_text("at least one send step")
    expect(steps).to_have_count(2)
    browsing.step("editor-refused")

    # Reorder: the wait first, then the text.
    page.get_by_role("button", name="Move step 1 up").click()
    expect(steps.nth(0)).to_contain_text("Wait 2 days")
    expect(steps.nth(1)).to_contain_text("Send a text (variants: A (1), B (3))")
    browsing.step("editor-reordered")

    # Exits: a reply ends the journey.
    exits = page.locator("form", has=page.get_by_role("button", name="Save exits"))
    exits.get_by_label("They reply").check()
    exits.get_by_role("button", name="Save exits").click()
    expect(page.locator("#journey-steps").get_by_label("They reply")).to_be_checked()
    browsing.step("editor-exits-saved")

    play.refresh_from_db()
    assert play.steps == [
        {"type": "wait", "days": 2},
        {
            "type": "send",
            "variants": [
                {"name": "A", "template": "Hi {first_name}, your workspace is ready.", "weight": 1},
                {
                    "name": "B",
                    "template": "Welcome {first_name}! Reply TOUR for a 15 minute walkthrough.",
                    "weight": 3,
                },
            ],
        },
    ]
    assert play.exit_on == ["reply"]

    # The play page shows the journey as saved.
    page.locator(".breadcrumb").get_by_role("link", name="Welcome texts").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome texts")
    rows = page.locator(STEP_ROWS)
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Wait 2 days")
    expect(rows.nth(1)).to_contain_text("Send a text (variants: A (1), B (3))")
    expect(page.locator(".journey-ends")).to_contain_text("exits on reply")
    expect(page.get_by_role("link", name="Edit steps")).to_be_visible()
    browsing.step("play-page-journey")


def test_a_running_journeys_page_and_promoting_a_variant(browsing, user):
    play = journey(
        [
            send("Hi {first_name}, welcome (A).", "Hey {first_name}, welcome (B)."),
            {"type": "wait", "days": 1},
        ],
        name="Welcome journey",
        exit_on=["reply"],
        activated_at=timezone.now() - timedelta(days=1),
    )
    now = timezone.now()
    entering(6, at=now - timedelta(minutes=5))
    result = play_run(play, now=now)
    treated = Enrollment.objects.filter(play=play, arm="treatment").count()
    assert treated == 6, result
    by_variant = {
        name: StepDecision.objects.filter(play=play, step=0, variant=name, outcome="sent").count()
        for name in ("A", "B")
    }
    assert sum(by_variant.values()) == treated
    page = browsing.page

    browsing.log_in("alice")
    browsing.goto(f"/plays/{play.pk}/")
    funnel = page.locator(".journey-funnel")
    expect(funnel.locator(".journey-ends")).to_contain_text(f"Entered {treated}")
    send_row, wait_row = page.locator(STEP_ROWS).nth(0), page.locator(STEP_ROWS).nth(1)
    expect(send_row).to_contain_text(f"sent {treated}")
    variants_sent = ", ".join(f"{name}: {n}" for name, n in by_variant.items() if n)
    expect(send_row.locator("td").nth(4)).to_have_text(variants_sent)
    expect(wait_row.locator("td").nth(2)).to_have_text(str(treated))  # all waiting at step 1
    # Each contact's path in the enrollment log.
    expect(page.locator(".journey-path").first).to_contain_text("0 send sent")
    browsing.step("journey-page")

    # The variants panel arrives by htmx with a promote button per variant.
    panel = page.locator("#variant-results")
    expect(panel.locator("table")).to_be_visible()
    expect(panel.locator("tbody tr")).to_have_count(2)
    row_b = panel.locator("tbody tr").filter(has=page.locator("td:first-child", has_text=re.compile("^B$")))
    expect(row_b).to_have_count(1)
    browsing.step("variants-panel")

    version = play.version
    row_b.get_by_role("button", name="Promote (100%)").click()
    expect(page.locator(".flashes")).to_contain_text("Variant B now goes to everyone who enters.")
    expect(page.locator(STEP_ROWS).nth(0)).to_contain_text("Send a text (variants: A (0), B (100))")
    expect(page.locator("#variant-results tbody tr")).to_have_count(2)
    play.refresh_from_db()
    assert [(v["name"], v["weight"]) for v in play.steps[0]["variants"]] == [("A", 0), ("B", 100)]
    assert play.version == version + 1  # live: a new version; the enrollments keep the one they entered
    assert set(play.enrollments.values_list("version", flat=True)) == {version}
    browsing.step("variant-promoted")

    # Two versions now: the table counts each, and the first one's funnel is a click away.
    versions = page.locator("table.journey-versions tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_contain_text(f"{version + 1} current")
    expect(versions.nth(1).locator("td").nth(2)).to_have_text(str(treated))
    versions.nth(1).get_by_role("link", name=str(version)).click()
    expect(page.locator("#journey-title")).to_contain_text(
        f"version {version} (the current one is {version + 1})"
    )
    expect(funnel.locator(".journey-ends")).to_contain_text(f"Entered {treated}")
    expect(page.locator(STEP_ROWS).nth(0)).to_contain_text("Send a text (variants: A (1), B (1))")
    browsing.step("journey-version-1")
