"""Each trigger finds its occurrences in one set-based query, restricted to the audience."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import LifecycleStage, RenewalStatus
from plays.audience import validate_audience
from plays.triggers import candidates, validate_trigger
from tests.factories import (
    AccountFactory,
    ContactFactory,
    EventFactory,
    OrderFactory,
    RenewalFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def found(trigger, audience=None, **options):
    return sorted(candidates(trigger, audience or {}, now=NOW, **options))


def test_event_reaches_every_contact_with_a_phone_at_the_account():
    account = AccountFactory()
    first, second = ContactFactory(account=account), ContactFactory(account=account)
    ContactFactory(account=account, phone=None, phone_raw="")
    event = EventFactory(contact=first, account=account, name="seat_limit_90")
    EventFactory(contact=first, account=account, name="login")
    EventFactory(contact=first, account=account, name="seat_limit_90", occurred_at=NOW - timedelta(days=30))
    trigger = {"type": "event", "event": "seat_limit_90"}
    expected = sorted(
        [(first.pk, account.pk, f"event:{event.pk}"), (second.pk, account.pk, f"event:{event.pk}")]
    )
    assert found(trigger) == expected
    assert found(trigger, event_ids=[event.pk + 100]) == []
    assert found(trigger, event_ids=[event.pk]) == expected


def test_event_of_a_contact_without_account_reaches_that_contact():
    contact = ContactFactory(account=None)
    event = EventFactory(contact=contact, account=None, name="signup")
    assert found({"type": "event", "event": "signup"}) == [(contact.pk, None, f"event:{event.pk}")]


def test_usage_threshold_compares_the_property():
    account = AccountFactory()
    contact = ContactFactory(account=account)
    high = EventFactory(contact=contact, name="seats_used", properties={"ratio": 0.95})
    EventFactory(contact=contact, name="seats_used", properties={"ratio": 0.5})
    EventFactory(contact=contact, name="seats_used", properties={})
    trigger = {"type": "usage_threshold", "event": "seats_used", "property": "ratio", "gte": 0.9}
    assert found(trigger) == [(contact.pk, account.pk, f"usage:{high.pk}")]


def test_milestone_missing_once_per_contact_after_the_grace_days():
    late = AccountFactory(signed_up_at=NOW - timedelta(days=3))
    done = AccountFactory(signed_up_at=NOW - timedelta(days=3))
    fresh = AccountFactory(signed_up_at=NOW - timedelta(hours=12))
    ancient = AccountFactory(signed_up_at=NOW - timedelta(days=400))
    waiting = ContactFactory(account=late)
    finished = ContactFactory(account=done)
    ContactFactory(account=fresh)
    ContactFactory(account=ancient)
    EventFactory(contact=finished, name="integration_connected")
    EventFactory(contact=waiting, name="login")
    trigger = {"type": "milestone_missing", "event": "integration_connected", "days": 2}
    assert found(trigger) == [(waiting.pk, late.pk, "milestone:integration_connected")]


def test_inactivity_keys_the_streak_by_the_last_activity_day():
    quiet = AccountFactory()
    busy = AccountFactory()
    never = AccountFactory()
    contact = ContactFactory(account=quiet)
    ContactFactory(account=busy)
    ContactFactory(account=never)
    last = NOW - timedelta(days=20)
    EventFactory(contact=contact, name="login", occurred_at=NOW - timedelta(days=40))
    EventFactory(contact=contact, name="login", occurred_at=last)
    EventFactory(contact=contact, name="page_view", occurred_at=NOW - timedelta(days=1))  # not counted
    EventFactory(account=busy, contact=None, name="login", occurred_at=NOW - timedelta(days=2))
    trigger = {"type": "inactivity", "events": ["login"], "days": 14}
    assert found(trigger) == [(contact.pk, quiet.pk, f"inactive:{last.date().isoformat()}")]


def test_renewal_window_per_renewal_and_window():
    account = AccountFactory()
    contact = ContactFactory(account=account)
    renewal = RenewalFactory(account=account, start_date=NOW.date() - timedelta(days=300),
                             end_date=NOW.date() + timedelta(days=45))  # fmt: skip
    RenewalFactory(account=account, start_date=NOW.date(), end_date=NOW.date() + timedelta(days=200))
    decided = AccountFactory()
    ContactFactory(account=decided)
    RenewalFactory(
        account=decided,
        start_date=NOW.date() - timedelta(days=300),
        end_date=NOW.date() + timedelta(days=10),
        status=RenewalStatus.RENEWED,
        renewed_acv=1,
    )
    assert found({"type": "renewal_window", "days": 60}) == [
        (contact.pk, account.pk, f"renewal:{renewal.pk}:60")
    ]
    assert found({"type": "renewal_window", "days": 30}) == []


def test_days_since_order_keys_by_the_last_order():
    lapsed = ContactFactory(account=None)
    recent = ContactFactory(account=None)
    OrderFactory(contact=lapsed, account=None, ordered_at=NOW - timedelta(days=90))
    last = OrderFactory(contact=lapsed, account=None, ordered_at=NOW - timedelta(days=50))
    OrderFactory(contact=recent, account=None, ordered_at=NOW - timedelta(days=90))
    OrderFactory(contact=recent, account=None, ordered_at=NOW - timedelta(days=5))
    assert found({"type": "days_since_order", "days": 45}) == [(lapsed.pk, None, f"order:{last.pk}")]


def test_audience_filters_stage_plan_owner_and_attributes():
    owner = UserFactory()
    match = AccountFactory(lifecycle_stage=LifecycleStage.ACTIVE, plan="pro", owner=owner,
                           attributes={"tier": "gold"})  # fmt: skip
    others = [
        AccountFactory(
            lifecycle_stage=LifecycleStage.CHURNED, plan="pro", owner=owner, attributes={"tier": "gold"}
        ),
        AccountFactory(
            lifecycle_stage=LifecycleStage.ACTIVE, plan="free", owner=owner, attributes={"tier": "gold"}
        ),
        AccountFactory(lifecycle_stage=LifecycleStage.ACTIVE, plan="pro", attributes={"tier": "gold"}),
        AccountFactory(
            lifecycle_stage=LifecycleStage.ACTIVE, plan="pro", owner=owner, attributes={"tier": "tin"}
        ),
    ]
    contact = ContactFactory(account=match)
    events = [EventFactory(contact=contact, name="hit")]
    for account in others:
        events.append(EventFactory(contact=ContactFactory(account=account), name="hit"))
    audience = {
        "lifecycle_stages": ["active"],
        "plans": ["pro"],
        "owners": [owner.pk],
        "account_attributes": {"tier": "gold"},
    }
    validate_audience(audience)
    assert found({"type": "event", "event": "hit"}, audience) == [
        (contact.pk, match.pk, f"event:{events[0].pk}")
    ]
    assert len(found({"type": "event", "event": "hit"})) == 5


@pytest.mark.parametrize(
    "trigger",
    [
        {"type": "nope"},
        {"type": "event"},
        {"type": "event", "event": ""},
        {"type": "milestone_missing", "event": "x", "days": 0},
        {"type": "inactivity", "events": [], "days": 3},
        {"type": "renewal_window", "days": "60"},
        {"type": "renewal_window", "days": 60, "extra": 1},
        {"type": "usage_threshold", "event": "x", "property": "a__b", "gte": 1},
        {"type": "usage_threshold", "event": "x", "property": "ratio", "gte": "high"},
        ["event"],
    ],
)
def test_bad_triggers_are_refused(trigger):
    with pytest.raises(ValidationError):
        validate_trigger(trigger)


@pytest.mark.parametrize(
    "audience",
    [{"stages": []}, {"lifecycle_stages": ["nope"]}, {"owners": ["x"]}, {"account_attributes": {"a__b": 1}}],
)
def test_bad_audiences_are_refused(audience):
    with pytest.raises(ValidationError):
        validate_audience(audience)
