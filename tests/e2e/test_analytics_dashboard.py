"""The analytics dashboard in a real browser: the "Value by play" table and the verdicts' table
fit their cards at a laptop width (1440 px) and, on a phone (390 px), scroll inside their cards
instead of widening the page; no console errors."""

import pytest

from plays.engine import play_run
from tests.plays.conftest import make_play
from tests.plays.test_engine import renewing_account

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# The card, its table and the table's scroll container, measured in the page.
MEASURE = """(title) => {
  const card = [...document.querySelectorAll('.table-card')]
    .find(c => c.querySelector('h3')?.textContent.trim() === title);
  const table = card.querySelector('table'), wrap = card.querySelector('.table-wrap');
  const box = card.getBoundingClientRect();
  return {
    card: box.width, cardRight: box.right, cardScroll: card.scrollWidth, cardClient: card.clientWidth,
    table: table.getBoundingClientRect().width, wrapScroll: wrap.scrollWidth, wrapClient: wrap.clientWidth,
    rows: table.querySelectorAll('tbody tr').length, page: document.documentElement.clientWidth,
  };
}"""


@pytest.fixture
def plays_with_values(user):
    """Four active plays with long names, two of them run on renewing accounts (values, leakage
    intervals, notes)."""
    names = (
        "Renewal journey: 60 days out, escalating to the account owner",
        "Risk: inactivity check-in for accounts without a login in 30 days",
        "Expansion: seat-limit offer",
        "Adoption: send your first campaign",
    )
    plays = [make_play(name=name, holdout_percent=20) for name in names]
    for _ in range(12):
        renewing_account(contacts=2)
    for play in plays[:2]:
        play_run(play)
    return plays


@pytest.mark.parametrize("width", [1440, 390])
def test_value_by_play_table_stays_inside_its_card(browsing, plays_with_values, width):
    page = browsing.page
    browsing.log_in("alice")  # at the harness's desktop size (a phone folds the navigation away)
    page.set_viewport_size({"width": width, "height": 900})
    browsing.goto("/analytics/")
    page.get_by_role("heading", name="Value by play").scroll_into_view_if_needed()
    browsing.step(f"value-by-play-{width}")
    shown = page.evaluate(MEASURE, "Value by play")
    assert shown["rows"] == 4, shown
    _inside_its_card(shown, width)
    # The verdicts' table (one row per play that has enrollments) fits the same way.
    verdicts = page.evaluate(MEASURE, "Lift per play (primary outcome)")
    assert verdicts["rows"] >= 2, verdicts
    _inside_its_card(verdicts, width)


def _inside_its_card(shown: dict, width: int) -> None:
    # The card never grows past the page, and nothing spills out of it.
    assert shown["cardRight"] <= shown["page"] + 0.5, shown
    assert shown["cardScroll"] <= shown["cardClient"], shown
    if width == 1440:
        # On a laptop the compact columns fit: no scrolling inside the card either.
        assert shown["table"] <= shown["card"] + 0.5, shown
        assert shown["wrapScroll"] <= shown["wrapClient"], shown
    else:
        # On a phone the table scrolls inside the card (the last resort), within the card's width.
        assert shown["wrapClient"] <= shown["card"], shown
