"""The API's side of revocations (issue 16): the effective texting state agrees with the send
paths and the contact page; an agent reverses a misread plain-words revocation and decides a
held reply through the API, with a reason, audited, never a keyword STOP."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from crm.models import Activity, SmsConsent
from sms.models import ConsentSource, Conversation, ReviewStatus, RevocationReview
from sms.services.sending import SendRefused, message_send
from tests.sms.test_revocation_review import AMBIGUOUS, ARRIVAL, opted_in_contact, receive

REASON = "They meant the 3pm call, not the texts, see the thread"


@pytest.fixture
def clock():
    with time_machine.travel(ARRIVAL, tick=False) as traveller:
        yield traveller


@pytest.fixture
def held(clock):
    contact = opted_in_contact()
    receive(contact, AMBIGUOUS)
    return contact


def _conversation(contact):
    return Conversation.objects.get(contact=contact)


@pytest.mark.django_db
def test_the_state_answer_agrees_with_the_send_paths(api, held):
    state = api.get("/api/v1/sms/consent/state/", {"contact": held.pk}).json()
    assert state["sms_consent"] == "opted_in" and state["effective"] == "under_review"
    assert (state["can_text"], state["refusal"]) == (False, "consent:under_review")
    assert state["review"]["due_at"] == "2026-12-04T05:00:00Z"
    with pytest.raises(SendRefused) as refused:
        message_send(contact=held, body="Hi")
    assert "consent:" + refused.value.code == state["refusal"]
    # An integration's text is never the clarification, even within the five minutes.
    response = api.post("/api/v1/sms/messages/", {"contact": held.pk, "body": "Hi"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "under_review"

    free = opted_in_contact()
    state = api.get("/api/v1/sms/consent/state/", {"contact": free.pk}).json()
    assert (state["effective"], state["can_text"], state["review"]) == ("opted_in", True, None)
    assert api.get("/api/v1/sms/consent/state/").status_code == 400
    assert api.get("/api/v1/sms/consent/state/", {"contact": 999999}).status_code == 400


@pytest.mark.django_db
def test_reversal_needs_a_reason_and_is_audited(api, clock, user):
    contact = opted_in_contact()
    receive(contact, "take me off")
    url = f"/api/v1/sms/conversations/{_conversation(contact).pk}/reverse-opt-out/"
    clock.shift(timedelta(minutes=3))
    missing = api.post(url, {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()
    short = api.post(url, {"reason": "ok"}, format="json")
    assert short.status_code == 400 and "reason" in short.json()

    done = api.post(url, {"reason": REASON}, format="json")
    assert done.status_code == 201
    body = done.json()
    assert (body["action"], body["source"], body["actor"], body["proof"]["reason"]) == (
        "opt_in", "agent", user.pk, REASON,
    )  # fmt: skip
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN
    assert Activity.objects.get(contact=contact, data__action="reverse_opt_out").actor == user
    again = api.post(url, {"reason": REASON}, format="json")
    assert again.status_code == 409


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["STOP", "\uff33\uff54\uff4f\uff50", "unsubscribe me please"])
def test_reversal_never_undoes_a_keyword_stop(api, clock, body):
    contact = opted_in_contact()
    receive(contact, body)
    response = api.post(
        f"/api/v1/sms/conversations/{_conversation(contact).pk}/reverse-opt-out/",
        {"reason": REASON},
        format="json",
    )
    assert response.status_code == 409
    assert "only the person can re-subscribe" in response.json()["detail"]
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    assert not contact.consent_events.filter(source=ConsentSource.AGENT).exists()


@pytest.mark.django_db
def test_deciding_a_held_reply_through_the_api(api, held, user):
    url = f"/api/v1/sms/conversations/{_conversation(held).pk}/review/"
    assert api.post(url, {"decision": "not_revocation"}, format="json").status_code == 400
    assert api.post(url, {"decision": "maybe", "reason": REASON}, format="json").status_code == 400
    decided = api.post(url, {"decision": "not_revocation", "reason": REASON}, format="json")
    assert decided.status_code == 200
    assert (decided.json()["status"], decided.json()["resolution_reason"]) == ("not_revocation", REASON)
    assert api.post(url, {"decision": "confirm_opt_out"}, format="json").status_code == 409
    assert api.get("/api/v1/sms/consent/state/", {"contact": held.pk}).json()["can_text"] is True


@pytest.mark.django_db
def test_confirming_a_held_reply_through_the_api(api, held):
    url = f"/api/v1/sms/conversations/{_conversation(held).pk}/review/"
    assert api.post(url, {"decision": "confirm_opt_out"}, format="json").status_code == 200
    assert RevocationReview.objects.get(phone=held.phone).status == ReviewStatus.CONFIRMED
    assert api.get("/api/v1/sms/consent/state/", {"contact": held.pk}).json()["effective"] == "opted_out"


@pytest.mark.django_db
def test_the_endpoints_need_authentication_and_are_in_the_schema(anon_api, api, held):
    pk = _conversation(held).pk
    for url in (
        f"/api/v1/sms/conversations/{pk}/reverse-opt-out/",
        f"/api/v1/sms/conversations/{pk}/review/",
    ):
        assert anon_api.post(url, {"reason": REASON}, format="json").status_code == 401
    assert anon_api.get("/api/v1/sms/consent/state/", {"contact": held.pk}).status_code == 401
    schema = api.get(reverse("api-schema"), HTTP_ACCEPT="application/json").content.decode()
    for path in (
        "/api/v1/sms/conversations/{id}/reverse-opt-out/",
        "/api/v1/sms/conversations/{id}/review/",
        "/api/v1/sms/consent/state/",
    ):
        assert path in schema
