"""Change history: who changed what, when, from what to what, for plays, intent rules, ROI
assumptions and users and roles, shown where each is edited."""

from decimal import Decimal

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry

from analytics.assumptions import assumption_update
from analytics.models import Assumption
from crm.models import User
from plays.engine import play_run
from sms.models import IntentRule
from tests.factories import UserFactory
from tests.plays.conftest import make_play

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_web(client):
    admin = UserFactory(username="root", role="admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_a_play_changed_through_the_api_records_the_caller_and_the_values(api, user, web):
    play = make_play(holdout_percent=0)
    response = api.patch(f"/api/v1/plays/{play.pk}/", {"holdout_percent": 10}, format="json")
    assert response.status_code == 200, response.content
    entry = LogEntry.objects.get_for_object(play).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.actor == user  # a token caller, authenticated inside the view
    assert entry.changes_dict["holdout_percent"] == ["0", "10"]
    page = web.get(f"/plays/{play.pk}/").content.decode()
    assert "Change history" in page and "holdout percent" in page.lower() and str(user) in page


def test_status_changes_are_recorded_and_the_engines_bookkeeping_is_not(api, user):
    play = make_play(status="draft")
    assert api.post(f"/api/v1/plays/{play.pk}/activate/").status_code == 200
    updates = LogEntry.objects.get_for_object(play).filter(action=LogEntry.Action.UPDATE)
    assert [e.changes_dict["status"] for e in updates] == [["draft", "active"]]
    play.refresh_from_db()
    play_run(play)  # claims the play and stamps its last run: not a change anyone made
    assert LogEntry.objects.get_for_object(play).filter(action=LogEntry.Action.UPDATE).count() == 1


def test_a_role_change_is_shown_on_the_users_admin_page(admin_web):
    agent = UserFactory(username="sam", role="agent")
    boss = User.objects.get(username="root")
    with set_actor(boss):
        agent.role = "manager"
        agent.save()
        agent.last_login = agent.date_joined  # not tracked
        agent.save()
    [entry] = LogEntry.objects.get_for_object(agent).filter(action=LogEntry.Action.UPDATE)
    assert entry.actor == boss and entry.changes_dict == {"role": ["agent", "manager"]}
    page = admin_web.get(f"/admin/crm/user/{agent.pk}/change/").content.decode()
    assert "Change history" in page and str(boss) in page and "manager" in page


def test_intent_rules_and_roi_assumptions_keep_their_history(admin_web):
    rule = IntentRule.objects.first()
    assert rule is not None
    boss = User.objects.get(username="root")
    with set_actor(boss):
        rule.is_active = not rule.is_active
        rule.save()
    entry = LogEntry.objects.get_for_object(rule).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.actor == boss and "is_active" in entry.changes_dict
    assert "Change history" in admin_web.get(f"/admin/sms/intentrule/{rule.pk}/change/").content.decode()

    with set_actor(boss):
        assumption = assumption_update(
            key=Assumption.objects.values_list("key", flat=True).first() or _first_key(),
            value=Decimal("0.25"),
            actor=boss,
        )
    entry = LogEntry.objects.get_for_object(assumption).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.actor == boss and entry.changes_dict["value"][1].startswith("0.25")
    page = admin_web.get(f"/admin/analytics/assumption/{assumption.pk}/change/").content.decode()
    assert "Change history" in page and "0.25" in page


def _first_key() -> str:
    from analytics.assumptions import assumptions_ensure

    assumptions_ensure()
    return Assumption.objects.values_list("key", flat=True).first()
