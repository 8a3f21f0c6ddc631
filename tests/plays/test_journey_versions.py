"""Versions keep their steps: an edit of a live journey changes the path of new entrants only;
contacts in flight go on with the version they entered. The journey page counts by version,
lift splits by version, and the migration keeps each existing play's current version."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps

from analytics.metrics.variants import variant_results
from analytics.scope import Scope
from crm.models import Task
from plays import services
from plays.models import Enrollment, PlayVersion, StepDecision
from plays.selectors import journey_funnel
from sms.models import Message
from tests.plays.journeys import T0, advance, entering, journey, run, send

pytestmark = pytest.mark.django_db

V1 = [send("Old first {first_name}"), {"type": "wait", "days": 2}, send("Old second {first_name}")]
# The same shape at the start, but step 2 is now a task: a contact of version 1 who followed
# these steps would get a task and a differently worded text.
V2 = [
    send("New first {first_name}"),
    {"type": "wait", "days": 2},
    {"type": "task", "title": "Call them"},
    send("New second {first_name}"),
]


@pytest.fixture(autouse=True)
def roomy_caps(settings):
    settings.GOVERNANCE_CONTACT_DAILY_CAP = 10
    settings.GOVERNANCE_CONTACT_WEEKLY_CAP = 10


def _bodies(contact) -> list[str]:
    return list(Message.objects.filter(contact=contact).order_by("id").values_list("body", flat=True))


def _edited_mid_flight():
    play = journey(V1)
    (old,) = entering(at=T0)
    run(play, T0)
    assert Enrollment.objects.get(contact=old).version == 1
    play.activated_at = T0  # live: it has run
    play.save(update_fields=["activated_at"])
    play = services.play_update(play=play, steps=V2)
    assert play.version == 2
    (new,) = entering(at=T0 + timedelta(hours=1))
    run(play, T0 + timedelta(hours=1))
    return play, old, new


def test_an_edit_of_a_live_journey_keeps_contacts_in_flight_on_their_version():
    play, old, new = _edited_mid_flight()
    assert dict(PlayVersion.objects.filter(play=play).values_list("version", "steps")) == {1: V1, 2: V2}
    assert dict(Enrollment.objects.filter(play=play).values_list("contact_id", "version")) == {
        old.pk: 1,
        new.pk: 2,
    }
    result = advance(play, T0 + timedelta(days=2, hours=1))
    assert result.moved == 2 and result.completed == 2
    # The contact in flight follows version 1 to its end: its second text, no task.
    assert _bodies(old) == [f"Old first {old.first_name}", f"Old second {old.first_name}"]
    assert not Task.objects.filter(contact=old).exists()
    # The new entrant follows version 2: the new texts and the task between them.
    assert _bodies(new) == [f"New first {new.first_name}", f"New second {new.first_name}"]
    assert list(Task.objects.filter(contact=new).values_list("title", flat=True)) == ["Call them"]
    paths = {
        contact.pk: list(
            StepDecision.objects.filter(enrollment__contact=contact)
            .order_by("move")
            .values_list("step", "kind")
        )
        for contact in (old, new)
    }
    assert paths == {old.pk: [(0, "send"), (2, "send")], new.pk: [(0, "send"), (2, "task"), (3, "send")]}


def test_the_journey_page_counts_each_version_on_its_own_steps(client, user):
    play, _, _ = _edited_mid_flight()
    current = journey_funnel(play)
    assert current["version"] == 2 and current["entered"] == 1 and current["in_flight"] == 1
    assert [row["label"] for row in current["steps"]][2].lower().startswith("task")
    first = journey_funnel(play, version=1)
    assert first["version"] == 1 and first["entered"] == 1 and len(first["steps"]) == 3
    assert first["steps"][0]["decisions"] == {"sent": 1} and first["steps"][1]["waiting"] == 1
    versions = {row["version"]: row for row in current["versions"]}
    assert (versions[1]["entered"], versions[1]["in_flight"], versions[1]["current"]) == (1, 1, False)
    assert (versions[2]["entered"], versions[2]["in_flight"], versions[2]["current"]) == (1, 1, True)
    advance(play, T0 + timedelta(days=2, hours=1))
    versions = {row["version"]: row for row in journey_funnel(play)["versions"]}
    assert versions[1]["completed"] == versions[2]["completed"] == 1
    client.force_login(user)
    page = client.get(f"/plays/{play.pk}/?version=1")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Contacts by journey version" in html and "version 1 (the current one is 2)" in html
    # A version that does not exist shows the current one, never an error.
    assert "version 2" in client.get(f"/plays/{play.pk}/?version=9").content.decode()


def test_lift_splits_by_the_version_contacts_entered():
    play, _, _ = _edited_mid_flight()
    scope = Scope(start=(T0 - timedelta(days=1)).date(), end=(T0 + timedelta(days=1)).date())
    answer = variant_results(play, scope, window_days=1, now=T0 + timedelta(days=30))
    split = [
        (row["version"], {v["variant"]: v["treatment_n"] for v in row["variants"]})
        for row in answer["by_version"]
    ]
    assert split == [(1, {"A": 1}), (2, {"A": 1})]


def test_a_version_whose_steps_were_not_kept_goes_on_with_the_current_steps():
    """Enrollments of versions edited before versions were kept (no PlayVersion row) continue on
    the play's current steps, as they did before."""
    play, old, _ = _edited_mid_flight()
    PlayVersion.objects.filter(play=play, version=1).delete()
    advance(play, T0 + timedelta(days=2, hours=1))
    assert list(Task.objects.filter(contact=old).values_list("title", flat=True)) == ["Call them"]


def test_the_migration_keeps_each_existing_plays_current_version():
    play = journey(V1)
    play.version = 3
    play.save(update_fields=["version"])
    PlayVersion.objects.all().delete()
    migration = importlib.import_module("plays.migrations.0009_play_versions_kept")
    migration.keep_current_versions(apps, None)
    assert list(PlayVersion.objects.filter(play=play).values_list("version", "steps", "template")) == [
        (3, V1, play.template)
    ]
