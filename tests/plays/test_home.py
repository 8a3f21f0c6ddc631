"""The home page for a lifecycle team (issue 20): replies waiting and SLAs at risk (sms panel),
renewals due in 90 days with their ARR and risk (crm), what the plays did this week (plays
panel), my tasks. Figures pinned by hand on one small book; query counts do not grow with it."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import LifecycleStage, RenewalStatus
from plays.models import Arm, Enrollment, Outcome
from sms.governance import play_source
from sms.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
)
from tests.factories import AccountFactory, ContactFactory, RenewalFactory, TaskFactory, UserFactory
from tests.plays.conftest import make_play

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
HOME_PANELS = ("dashboard", "sms_home_panel", "plays_home_panel")


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _text(contact, play, at) -> Message:
    message = Message.objects.create(
        contact=contact,
        direction=Direction.OUTBOUND,
        kind=MessageKind.AUTOMATED,
        source=play_source(play.pk),
        body="Hello",
        to_number=contact.phone,
        status=MessageStatus.SENT,
    )
    Message.objects.filter(pk=message.pk).update(created_at=at)
    return message


def _reply(contact, at) -> None:
    message = Message.objects.create(
        contact=contact,
        direction=Direction.INBOUND,
        kind=MessageKind.INBOUND,
        body="Thanks!",
        to_number=contact.phone,
        status=MessageStatus.RECEIVED,
    )
    Message.objects.filter(pk=message.pk).update(created_at=at)


def _enroll(play, contact, *, at, arm=Arm.TREATMENT, outcome=Outcome.SENT, exit_reason="") -> Enrollment:
    return Enrollment.objects.create(
        play=play,
        contact=contact,
        account=contact.account,
        occurrence=f"test:{contact.pk}:{at:%j}",
        arm=arm,
        outcome=outcome,
        exit_reason=exit_reason,
        decided_at=at,
    )


def _conversation(*, assignee, awaiting=True, sla_in=None, status=ConversationStatus.OPEN):
    return Conversation.objects.create(
        contact=ContactFactory(),
        status=status,
        assignee=assignee,
        awaiting_since=NOW - timedelta(hours=1) if awaiting else None,
        sla_due_at=NOW + sla_in if sla_in is not None else None,
    )


def plays_week_book():
    """Renewal nudge: 3 texts this week (one reply, one opt-out, one opened a deal), a control
    row (not a text) and a text of last month whose reply does not count. Onboarding hello: one
    text this week that reached its event. Sent 4, replies 1, opt-outs 1, goals 2."""
    nudge, hello = make_play(name="Renewal nudge"), make_play(name="Onboarding hello", moment="onboarding")
    replied, opted_out, converted, held_out, old, activated = (ContactFactory() for _ in range(6))
    for contact, days, exit_reason in ((replied, 1, ""), (opted_out, 2, ""), (converted, 3, "deal_opened")):
        _enroll(nudge, contact, at=NOW - timedelta(days=days), exit_reason=exit_reason)
        _text(contact, nudge, NOW - timedelta(days=days))
    _reply(replied, NOW - timedelta(days=1) + timedelta(hours=1))
    ConsentEvent.objects.create(
        contact=opted_out, phone=opted_out.phone, action=ConsentAction.OPT_OUT, source=ConsentSource.KEYWORD,
        occurred_at=NOW - timedelta(days=2) + timedelta(hours=2),
    )  # fmt: skip
    _enroll(nudge, held_out, at=NOW - timedelta(days=1), arm=Arm.CONTROL, outcome=Outcome.SUPPRESSED)
    _enroll(nudge, old, at=NOW - timedelta(days=30), exit_reason="deal_opened")
    _text(old, nudge, NOW - timedelta(days=30))
    _reply(old, NOW - timedelta(days=29))
    _enroll(hello, activated, at=NOW - timedelta(days=1), exit_reason="event:activated")
    _text(activated, hello, NOW - timedelta(days=1))
    return nudge, hello


def inbox_book(user):
    """Mine: one due in 10 minutes (at risk), one due in 3 hours; a colleague's past its SLA (at
    risk); one unassigned without an SLA. Not waiting: mine answered, mine closed.
    Mine 2, team 4, at risk: mine 1, team 2."""
    colleague = UserFactory()
    _conversation(assignee=user, sla_in=timedelta(minutes=10))
    _conversation(assignee=user, sla_in=timedelta(hours=3))
    _conversation(assignee=colleague, sla_in=timedelta(minutes=-5))
    _conversation(assignee=None)
    _conversation(assignee=user, awaiting=False)
    _conversation(assignee=user, status=ConversationStatus.CLOSED, sla_in=timedelta(minutes=1))


def renewals_book():
    """Due in 90 days: $5,000 at risk (in 30 days) and $7,000 active (in 80 days): $12,000 ARR,
    1 at risk for $5,000. Not due: one in 200 days, one already renewed."""
    today = NOW.date()
    start = today - timedelta(days=300)
    risky = AccountFactory(name="Risky Co", lifecycle_stage=LifecycleStage.AT_RISK)
    steady = AccountFactory(name="Steady Co", lifecycle_stage=LifecycleStage.ACTIVE)
    RenewalFactory(account=risky, start_date=start, end_date=today + timedelta(days=30), acv=Decimal("5000"))
    RenewalFactory(account=steady, start_date=start, end_date=today + timedelta(days=80), acv=Decimal("7000"))
    RenewalFactory(start_date=today, end_date=today + timedelta(days=200), acv=Decimal("1"))
    RenewalFactory(
        start_date=start, end_date=today + timedelta(days=10), acv=Decimal("9"), status=RenewalStatus.RENEWED
    )


def _figure(body: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', body)
    assert match, testid
    return match.group(1).strip()


def test_home_page_figures(web, user, clock):
    plays_week_book()
    inbox_book(user)
    renewals_book()
    TaskFactory(owner=user, title="Call Risky Co", due_at=NOW - timedelta(days=1))

    home = web.get(reverse("dashboard"))
    body = home.content.decode()
    # The other apps' panels load from the home page, which does not import them.
    for name in ("sms_home_panel", "plays_home_panel"):
        assert f'hx-get="{reverse(name)}"' in body
    assert _figure(body, "renewals-arr") == "$12,000"
    assert _figure(body, "renewals-at-risk") == "1 · $5,000"
    renewals = re.search(r'data-testid="home-renewals".*?</section>', body, re.S).group(0)
    assert renewals.index("Risky Co") < renewals.index("Steady Co")  # the soonest first
    assert renewals.count("At risk</span>") == 1
    assert "Call Risky Co" in re.search(r'data-testid="home-tasks".*?</section>', body, re.S).group(0)

    inbox = web.get(reverse("sms_home_panel")).content.decode()
    assert [_figure(inbox, k) for k in ("waiting-mine", "waiting-team", "at-risk-mine", "at-risk-team")] == [
        "2", "4", "1", "2",
    ]  # fmt: skip
    assert "Breached 5m" in inbox

    plays = web.get(reverse("plays_home_panel"))
    week = plays.context["week"]
    assert [(p.name, p.sent, p.replies, p.opt_outs, p.goals) for p in week.plays] == [
        ("Onboarding hello", 1, 0, 0, 1),
        ("Renewal nudge", 3, 1, 1, 1),
    ]
    text = plays.content.decode()
    assert [_figure(text, k) for k in ("plays-sent", "plays-replies", "plays-opt-outs", "plays-goals")] == [
        "4", "1", "1", "2",
    ]  # fmt: skip


def _queries(web, name) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert web.get(reverse(name)).status_code == 200
    return len(captured)


def test_home_page_queries_do_not_grow_with_the_book(web, user, clock):
    plays_week_book()
    inbox_book(user)
    renewals_book()
    few = {name: _queries(web, name) for name in HOME_PANELS}
    for _ in range(3):
        plays_week_book()
        inbox_book(user)
        renewals_book()
        TaskFactory.create_batch(3, owner=user, account=AccountFactory())
    many = {name: _queries(web, name) for name in HOME_PANELS}
    assert many == few
    assert few["dashboard"] <= 12 and few["sms_home_panel"] <= 5 and few["plays_home_panel"] <= 5


def test_home_panels_need_a_signed_in_user(client):
    for name in ("sms_home_panel", "plays_home_panel"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"]
