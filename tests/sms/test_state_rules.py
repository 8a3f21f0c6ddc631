"""State telephone-solicitation rules: Florida, Oklahoma and Maryland narrow the send window to
8 a.m.-8 p.m. in the recipient's local time and cap a play at 3 texts per 24 hours; every
other contact keeps the configured rules. The clock is pinned in every test."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import SmsConsent
from sms import quiet_hours, state_rules
from sms.governance import DEFERRED, SEND, Candidate, decide, play_source
from sms.models import Message, MessageKind
from sms.providers import _provider
from sms.services.delivery import message_deliver
from sms.services.sending import message_send
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

NY = zoneinfo.ZoneInfo("America/New_York")
LA = zoneinfo.ZoneInfo("America/Los_Angeles")
MIAMI, TULSA, BALTIMORE, SAN_FRANCISCO, MANHATTAN = "+1305", "+1918", "+1410", "+1415", "+1212"
_serial = iter(range(2_000_000, 9_999_999))


@pytest.fixture(autouse=True)
def configured_8_to_21(settings):
    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 8, 21
    settings.GOVERNANCE_CONTACT_DAILY_CAP = 10  # so only the state's cap can bind
    settings.GOVERNANCE_CONTACT_WEEKLY_CAP = 50
    settings.GOVERNANCE_ACCOUNT_WEEKLY_CAP = 1000
    settings.SMS_PROVIDER = "console"
    settings.SMS_SEGMENTS_PER_SECOND = 0
    settings.SMS_CONSOLE_DELIVERY_DELAY = (0, 0)
    _provider.cache_clear()
    yield
    _provider.cache_clear()


def person(area: str, tz: str = "America/New_York", **fields):
    return ContactFactory(
        phone=f"{area}{next(_serial)}", sms_consent=SmsConsent.OPTED_IN, timezone=tz, **fields
    )


def at(tz: zoneinfo.ZoneInfo, *args) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)


def one(contact, now, **kwargs):
    return decide([Candidate(contact.pk, contact.account_id, **kwargs)], now=now)[0]


# --- which state ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "state"),
    [
        ("+13055551234", "FL"),  # "Florida"
        ("+12395550100", "FL"),  # "Naples, FL"
        ("+16455550100", "FL"),  # an overlay code added in 2023
        ("+19185550100", "OK"),
        ("+15805550100", "OK"),
        ("+14105550100", "MD"),
        ("+12405550100", "MD"),
        ("+14155550100", "CA"),  # "San Francisco, CA": a state without rules
        ("+16505550100", "CA"),  # "California": the code from the places under the area code
        ("+12125550100", "NY"),
        ("+14165550100", None),  # Toronto: not a US number
        ("+18005550100", None),  # toll-free: no place
        ("+442071234567", None),
        ("", None),
    ],
)
def test_state_of_a_number_from_its_area_code(phone, state):
    assert state_rules.number_state(phone) == state


def test_an_area_codes_state_does_not_depend_on_which_of_its_numbers_came_first():
    state_rules._AREA_STATES.clear()
    assert state_rules.number_state("+14152010000") == "CA"  # the area's entry: "California"
    assert state_rules.number_state("+14155550100") == "CA"  # "San Francisco, CA"
    state_rules._AREA_STATES.clear()
    assert state_rules.number_state("+14155550100") == state_rules.number_state("+14152010000") == "CA"


def test_a_state_in_the_contacts_attributes_wins_over_the_area_code():
    assert state_rules.contact_state("+14155550100", {"state": "fl"}) == "FL"
    assert state_rules.contact_state("+14155550100", {"state": "Maryland"}) == "MD"
    assert state_rules.contact_state("+13055551234", {"state": "CA"}) == "CA"
    assert state_rules.contact_state("+13055551234", {}) == "FL"


def test_every_rule_is_8_to_8_with_3_per_day_and_cites_its_statute():
    assert sorted(state_rules.STATE_RULES) == ["FL", "MD", "OK"]
    for rule in state_rules.STATE_RULES.values():
        assert (rule.start_hour, rule.end_hour, rule.daily_cap) == (8, 20, 3) and rule.citation


# --- the window ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "state", "expected"),
    [
        ((2026, 6, 10, 20, 30), "FL", ((2026, 6, 11, 8, 0), "state:FL_quiet_hours")),
        ((2026, 6, 10, 19, 59), "FL", ((2026, 6, 10, 19, 59), "")),
        ((2026, 6, 10, 20, 0), "OK", ((2026, 6, 11, 8, 0), "state:OK_quiet_hours")),
        ((2026, 6, 10, 21, 30), "MD", ((2026, 6, 11, 8, 0), "quiet_hours")),  # both closed
        ((2026, 6, 10, 7, 0), "FL", ((2026, 6, 10, 8, 0), "quiet_hours")),
        ((2026, 6, 10, 20, 30), "CA", ((2026, 6, 10, 20, 30), "")),  # no rules: 8-21
        ((2026, 6, 10, 20, 30), None, ((2026, 6, 10, 20, 30), "")),
    ],
)
def test_the_window_is_the_intersection_of_the_configured_and_the_states(local, state, expected):
    opens, reason = quiet_hours.window_opens_why(at(NY, *local), NY, state)
    assert (opens, reason) == (at(NY, *expected[0]), expected[1])


def test_a_state_window_wider_than_the_configured_one_changes_nothing(settings):
    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 9, 17
    assert quiet_hours.window_opens_why(at(NY, 2026, 6, 10, 8, 30), NY, "FL") == (
        at(NY, 2026, 6, 10, 9, 0),
        "quiet_hours",
    )
    assert quiet_hours.window_opens_why(at(NY, 2026, 6, 10, 16, 59), NY, "FL")[1] == ""


@pytest.mark.parametrize(
    ("local", "opens"),
    [
        # Spring forward (2026-03-08 02:00): 20:30 EST the night before -> 08:00 EDT (12:00 UTC).
        ((2026, 3, 7, 20, 30), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
        # On the short day itself the window still closes at 20:00 EDT (00:00 UTC).
        ((2026, 3, 8, 20, 0), datetime(2026, 3, 9, 12, 0, tzinfo=UTC)),
        # Fall back (2026-11-01 02:00): 20:30 EDT the night before -> 08:00 EST (13:00 UTC).
        ((2026, 10, 31, 20, 30), datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),
        # The repeated hour 01:30 on the long night -> 08:00 EST.
        ((2026, 11, 1, 1, 30), datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),
    ],
)
def test_florida_window_across_dst_changes(local, opens):
    contact = person(MIAMI)
    now = at(NY, *local)
    with time_machine.travel(now, tick=False):
        decision = one(contact, now)
    assert (decision.outcome, decision.send_at) == (DEFERRED, opens)


def test_florida_evening_is_deferred_to_8_am_and_sent_then():
    contact = person(MIAMI)
    evening, morning = at(NY, 2026, 6, 10, 20, 30), at(NY, 2026, 6, 11, 8, 0)
    with time_machine.travel(evening, tick=False):
        decision = one(contact, evening)
        assert (decision.outcome, decision.reason, decision.send_at) == (
            DEFERRED,
            "state:FL_quiet_hours",
            morning,
        )
        message = message_send(contact=contact, body="Renewal soon", kind=MessageKind.MANUAL)
        assert (message.deferred_reason, message.next_attempt_at) == ("state:FL_quiet_hours", morning)
        assert message.waits_for_window  # the thread shows "waits until 08:00"
        assert message_deliver(message_id=message.pk).result == "skipped"  # not due yet
    with time_machine.travel(morning, tick=False):
        assert one(contact, morning).outcome == SEND
        assert message_deliver(message_id=message.pk).result == "sent"
    message.refresh_from_db()
    assert not message.waits_for_window


def test_delivery_rechecks_the_state_window_for_a_text_that_came_due_late():
    contact = person(BALTIMORE)
    with time_machine.travel(at(NY, 2026, 6, 10, 19, 50), tick=False):
        message = message_send(contact=contact, body="Hi", kind=MessageKind.MANUAL)
        assert message.deferred_reason == ""
    with time_machine.travel(at(NY, 2026, 6, 10, 20, 5), tick=False):  # a backlog or a retry
        assert message_deliver(message_id=message.pk).result == "deferred"
    message.refresh_from_db()
    assert (message.status, message.deferred_reason) == ("queued", "state:MD_quiet_hours")
    assert message.next_attempt_at == at(NY, 2026, 6, 11, 8, 0)


def test_a_california_number_keeps_the_configured_window():
    contact = person(SAN_FRANCISCO, "America/Los_Angeles")
    now = at(LA, 2026, 6, 10, 20, 30)
    with time_machine.travel(now, tick=False):
        assert (one(contact, now).outcome, one(contact, now).reason) == (SEND, "")
        assert message_send(contact=contact, body="Hi").deferred_reason == ""


def test_unknown_state_gets_only_the_configured_rules():
    toll_free = person("+1800")
    now = at(NY, 2026, 6, 10, 20, 30)
    with time_machine.travel(now, tick=False):
        assert one(toll_free, now).outcome == SEND
        assert one(toll_free, at(NY, 2026, 6, 10, 21, 30)).reason == "quiet_hours"


def test_a_travelling_floridian_gets_florida_hours_in_their_own_timezone():
    contact = person(MIAMI, "America/Los_Angeles")
    evening = at(LA, 2026, 6, 10, 19, 30)  # 22:30 in Miami, 19:30 where they are: open
    with time_machine.travel(evening, tick=False):
        assert one(contact, evening).outcome == SEND
    later = at(LA, 2026, 6, 10, 20, 15)
    with time_machine.travel(later, tick=False):
        decision = one(contact, later)
    assert (decision.reason, decision.send_at) == ("state:FL_quiet_hours", at(LA, 2026, 6, 11, 8, 0))


def test_manual_replies_in_a_conversation_stay_exempt():
    from sms.inbound import inbound_receive

    contact = person(MIAMI)
    with time_machine.travel(at(NY, 2026, 6, 10, 20, 30), tick=False):
        inbound_receive(
            provider_sid="SMfl1", from_number=contact.phone, to_number="+15005550006", body="A question"
        )
        reply = message_send(contact=contact, body="Happy to help", kind=MessageKind.REPLY)
    assert reply.deferred_reason == ""


# --- 3 per 24 hours on one subject -----------------------------------------------------------


def play_texts(contact, play_id, count, *, ago=timedelta(hours=2), status="delivered"):
    for _ in range(count):
        message = Message.objects.create(
            contact=contact, direction="outbound", kind=MessageKind.AUTOMATED, body="x",
            to_number=contact.phone, status=status, source=play_source(play_id),
        )  # fmt: skip
        Message.objects.filter(pk=message.pk).update(created_at=NOON - ago)


NOON = at(NY, 2026, 6, 10, 12, 0)


@pytest.mark.parametrize(("area", "state"), [(MIAMI, "FL"), (TULSA, "OK"), (BALTIMORE, "MD")])
def test_a_fourth_text_of_one_play_within_24_hours_is_deferred_until_the_24_hours_free_up(area, state):
    contact = person(area)
    with time_machine.travel(NOON, tick=False):
        play_texts(contact, 5, 2)
        assert one(contact, NOON, play_id=5).outcome == SEND
        play_texts(contact, 5, 1, status="failed")  # an attempt counts, whatever came of it
        decision = one(contact, NOON, play_id=5)
        # All three went two hours ago: the fourth may go 24 hours after them, not before.
        assert (decision.outcome, decision.reason, decision.send_at) == (
            DEFERRED, f"state:{state}_daily_cap", NOON + timedelta(hours=22),
        )  # fmt: skip
        assert one(contact, NOON, play_id=6).outcome == SEND  # another play is another subject


def _sent_at(contact, play_id, *moments):
    for moment in moments:
        Message.objects.create(
            contact=contact, direction="outbound", kind=MessageKind.AUTOMATED, body="x",
            to_number=contact.phone, status="delivered", source=play_source(play_id),
            created_at=moment, sent_at=moment,
        )  # fmt: skip


def test_the_cap_defers_in_the_contacts_own_timezone():
    """A Floridian (305 number) living in Los Angeles: three texts of the play at 10:00, 12:00 and
    19:30 Pacific; the next run at 09:00 Pacific the day after defers the fourth to 10:00 Pacific,
    when the first leaves the 24 hours, which is inside Florida's 8-to-8 in their own time."""
    contact = person(MIAMI, "America/Los_Angeles")
    _sent_at(contact, 5, at(LA, 2026, 6, 10, 10, 0), at(LA, 2026, 6, 10, 12, 0), at(LA, 2026, 6, 10, 19, 30))
    run = at(LA, 2026, 6, 11, 9, 0)
    with time_machine.travel(run, tick=False):
        decision = one(contact, run, play_id=5)
    assert (decision.outcome, decision.reason) == (DEFERRED, "state:FL_daily_cap")
    assert decision.send_at == at(LA, 2026, 6, 11, 10, 0) == datetime(2026, 6, 11, 17, 0, tzinfo=UTC)


def test_when_the_cap_frees_outside_the_window_the_text_waits_for_8_am_local():
    """Three texts at 19:30-19:50 Eastern the Saturday before the spring change: 24 hours later is
    20:30 EDT, past Florida's 8 p.m., so the fourth waits for 8:00 EDT on Monday."""
    contact = person(MIAMI)
    _sent_at(contact, 5, at(NY, 2026, 3, 7, 19, 30), at(NY, 2026, 3, 7, 19, 40), at(NY, 2026, 3, 7, 19, 50))
    run = at(NY, 2026, 3, 8, 12, 0)
    with time_machine.travel(run, tick=False):
        decision = one(contact, run, play_id=5)
    assert (decision.outcome, decision.reason, decision.send_at) == (
        DEFERRED, "state:FL_daily_cap", at(NY, 2026, 3, 9, 8, 0),
    )  # fmt: skip


def test_a_text_already_deferred_by_the_cap_counts_where_it_will_go():
    """Three sent this morning and a fourth deferred to tomorrow: a fifth goes after both rolling
    24-hour periods hold, and the deferred text goes out at its time through delivery."""
    from plays.engine import play_run
    from plays.models import Enrollment
    from tests.factories import RenewalFactory
    from tests.plays.conftest import make_play

    contact = person(MIAMI)
    play = make_play()
    RenewalFactory(
        account=contact.account,
        start_date=NOON.date() - timedelta(days=330),
        end_date=NOON.date() + timedelta(days=35),
    )
    _sent_at(
        contact, play.pk, NOON - timedelta(hours=3), NOON - timedelta(hours=2), NOON - timedelta(hours=1)
    )
    with time_machine.travel(NOON, tick=False):
        play_run(play, now=NOON)
    enrollment = Enrollment.objects.get(play=play, contact=contact)
    assert (enrollment.outcome, enrollment.reason) == ("deferred", "state:FL_daily_cap")
    deferred = Message.objects.get(pk=enrollment.message_id)
    assert deferred.next_attempt_at == NOON + timedelta(hours=21)
    with time_machine.travel(NOON, tick=False):
        fifth = one(contact, NOON, play_id=play.pk)
    # 24 hours after the second (the first and second have left, the third and the fourth remain).
    assert fifth.send_at == NOON + timedelta(hours=22)
    with time_machine.travel(NOON + timedelta(hours=20), tick=False):
        assert message_deliver(message_id=deferred.pk).result == "skipped"  # not yet
    with time_machine.travel(NOON + timedelta(hours=21), tick=False):
        assert message_deliver(message_id=deferred.pk).result == "sent"


def test_texts_older_than_24_hours_and_other_states_do_not_count():
    floridian, californian = person(MIAMI), person(SAN_FRANCISCO, "America/Los_Angeles")
    with time_machine.travel(NOON, tick=False):
        play_texts(floridian, 5, 3, ago=timedelta(hours=25))
        play_texts(californian, 5, 3)
        assert one(floridian, NOON, play_id=5).outcome == SEND
        assert one(californian, NOON, play_id=5).outcome == SEND
        assert one(floridian, NOON).outcome == SEND  # no play: no subject to count


def test_a_play_run_applies_the_state_cap_in_bulk_with_a_fixed_number_of_queries(settings):
    from plays.engine import play_run
    from plays.models import Enrollment
    from tests.factories import AccountFactory, RenewalFactory
    from tests.plays.conftest import make_play

    def book(size, group):
        account = AccountFactory(attributes={"group": group}, timezone="America/New_York")
        RenewalFactory(
            account=account,
            start_date=NOON.date() - timedelta(days=330),
            end_date=NOON.date() + timedelta(days=35),
        )
        areas = [MIAMI, TULSA, BALTIMORE, SAN_FRANCISCO, MANHATTAN]
        return [person(areas[i % len(areas)], "", account=account) for i in range(size)]

    with time_machine.travel(NOON, tick=False):
        plays, people, queries = {}, {}, {}
        for size in (5, 40):
            plays[size] = make_play(audience={"account_attributes": {"group": size}})
            other = make_play(name="Other subject", audience={"account_attributes": {"group": -size}})
            people[size] = book(size, size)
            for contact in people[size]:
                play_texts(contact, plays[size].pk, 3)
                play_texts(contact, other.pk, 3)
        for size in (5, 40):
            with CaptureQueriesContext(connection) as captured:
                play_run(plays[size], now=NOON)
            queries[size] = len(captured)
        assert queries[5] == queries[40]
        reasons = dict(Enrollment.objects.filter(play=plays[40]).values_list("contact__phone", "reason"))
        for contact in people[40]:
            state = state_rules.number_state(contact.phone)
            expected = f"state:{state}_daily_cap" if state in ("FL", "OK", "MD") else ""
            assert reasons[contact.phone] == expected, contact.phone
        outcomes = set(
            Enrollment.objects.filter(play=plays[40], reason__endswith="_daily_cap").values_list(
                "outcome", flat=True
            )
        )
        assert outcomes == {"deferred"}  # never dropped
