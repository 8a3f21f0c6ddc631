"""Window revenue per enrollment counts every order of the account and of the contact once:
the account's orders, plus the contact's orders with no account or another account; a
consumer (no account) gets the contact's orders. Split into two sums so each reads a covering
index (bench scenario 4); these pin the arithmetic the split must keep."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from analytics.metrics.lift import play_lift
from analytics.scope import Scope
from plays.models import Arm, Enrollment, Outcome, Play
from tests.factories import AccountFactory, ContactFactory, OrderFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = Scope(start=date(2025, 1, 1), end=date(2025, 12, 31))
DECIDED = datetime(2025, 3, 1, 15, tzinfo=UTC)
IN_WINDOW = DECIDED + timedelta(days=10)


@pytest.fixture
def play():
    return Play.objects.create(
        name="Renewal", moment="renewal", trigger={"type": "renewal_window", "days": 60}, template="Hi"
    )


def enroll(play, contact, arm):
    Enrollment.objects.create(
        play=play,
        contact=contact,
        account=contact.account,
        occurrence=f"t:{contact.pk}",
        arm=arm,
        outcome=Outcome.SENT if arm == Arm.TREATMENT else Outcome.SUPPRESSED,
        decided_at=DECIDED,
    )


def order(amount, *, contact=None, account=None, at=IN_WINDOW):
    return OrderFactory(contact=contact, account=account, amount=Decimal(amount), ordered_at=at)


def test_account_orders_and_the_contacts_other_orders_each_count_once(play):
    acme, other = AccountFactory(), AccountFactory()
    ann = ContactFactory(account=acme)
    colleague = ContactFactory(account=acme)
    order("100", contact=ann, account=acme)  # the contact's, in the account: once, not twice
    order("40", contact=colleague, account=acme)  # the account's, by someone else
    order("7", contact=ann, account=None)  # the contact's, no account
    order("3", contact=ann, account=other)  # the contact's, another account
    order("1000", contact=colleague, account=other)  # neither the contact's nor the account's
    order("500", contact=ann, account=acme, at=DECIDED + timedelta(days=200))  # after the window
    enroll(play, ann, Arm.TREATMENT)
    consumer = ContactFactory(account=None)
    order("60", contact=consumer)
    enroll(play, consumer, Arm.CONTROL)
    revenue = play_lift(play, YEAR, now=NOW, window_days=90)["outcomes"]["revenue"]
    assert revenue["treatment_mean"] == pytest.approx(150.0)
    assert revenue["control_mean"] == pytest.approx(60.0)
