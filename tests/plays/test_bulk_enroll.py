"""The contact list's bulk "Enroll in a play" (issue 20): through the plays engine, so holdout,
governance and consent apply; only active plays; managers and admins; set-based."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from plays.models import Arm, Enrollment, Outcome, PlayStatus
from sms.models import Message
from tests.factories import ContactFactory, UserFactory
from tests.plays.conftest import make_play, opted_in_contact

pytestmark = pytest.mark.django_db


def _enroll(web, ids, play, **extra):
    data = {"ids": ids, "action": "enroll", "confirm": "on", "play": play.pk, "next": "/contacts/"}
    return web.post(reverse("contacts_bulk"), {**data, **extra})


def test_it_first_offers_only_active_plays(web):
    active = make_play(name="Active nudge")
    make_play(name="Draft nudge", status=PlayStatus.DRAFT)
    contact = opted_in_contact()
    page = web.post(reverse("contacts_bulk"), {"ids": [contact.pk], "action": "enroll"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "Active nudge" in body and "Draft nudge" not in body
    assert f'value="{active.pk}"' in body
    assert not Enrollment.objects.exists()


def test_enrolling_goes_through_consent_and_says_who_entered_and_who_was_refused(web):
    play = make_play(holdout_percent=0)
    willing = [opted_in_contact() for _ in range(2)]
    unwilling = ContactFactory()  # never opted in
    response = _enroll(web, [c.pk for c in [*willing, unwilling]], play)
    assert response.status_code == 302 and response.url == "/contacts/"
    enrollments = {e.contact_id: e for e in Enrollment.objects.filter(play=play)}
    assert {enrollments[c.pk].outcome for c in willing} <= {Outcome.SENT, Outcome.DEFERRED}
    assert enrollments[unwilling.pk].outcome == Outcome.SUPPRESSED
    assert enrollments[unwilling.pk].reason == "consent:not_opted_in"
    assert Message.objects.filter(contact=unwilling).count() == 0
    assert Message.objects.filter(contact__in=willing).count() == 2
    message = str(next(iter(web.get("/contacts/").context["messages"])))
    assert "2 entered, 0 held out (control group), 1 refused." in message
    assert "Not opted in to texts (1)" in message


def test_the_holdout_applies(web):
    play = make_play(holdout_percent=50)
    contacts = [opted_in_contact() for _ in range(20)]
    _enroll(web, [c.pk for c in contacts], play)
    arms = list(Enrollment.objects.filter(play=play).values_list("arm", flat=True))
    assert len(arms) == 20 and Arm.CONTROL in arms and Arm.TREATMENT in arms
    held = [e.contact_id for e in Enrollment.objects.filter(play=play, arm=Arm.CONTROL)]
    assert not Message.objects.filter(contact_id__in=held).exists()


def test_enrolling_twice_the_same_day_does_not_enroll_twice(web):
    play = make_play()
    contact = opted_in_contact()
    _enroll(web, [contact.pk], play)
    _enroll(web, [contact.pk], play)
    assert Enrollment.objects.filter(play=play, contact=contact).count() == 1
    message = str(list(web.get("/contacts/").context["messages"])[-1])
    assert "1 already enrolled today" in message


@pytest.mark.parametrize("status", [PlayStatus.DRAFT, PlayStatus.PAUSED])
def test_a_play_that_is_not_active_is_refused_with_a_4xx(web, status):
    play = make_play(status=status)
    contact = opted_in_contact()
    response = _enroll(web, [contact.pk], play)
    assert response.status_code == 400 and b"Choose an active play." in response.content
    assert not Enrollment.objects.exists()


def test_agents_may_not_enroll(client):
    agent = UserFactory(username="agent", role="agent")
    client.force_login(agent)
    play = make_play()
    contact = opted_in_contact()
    assert _enroll(client, [contact.pk], play).status_code == 403
    assert not Enrollment.objects.exists()


def _queries_to_enroll(web, play, count: int) -> int:
    ids = [opted_in_contact().pk for _ in range(count)]
    with CaptureQueriesContext(connection) as queries:
        _enroll(web, ids, play)
    assert Enrollment.objects.filter(play=play, contact_id__in=ids).count() == count
    return len(queries)


def test_enrolling_is_a_constant_number_of_queries(web):
    play = make_play(holdout_percent=0)
    assert _queries_to_enroll(web, play, 2) == _queries_to_enroll(web, play, 25)
