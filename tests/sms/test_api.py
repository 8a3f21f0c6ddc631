import pytest
from rest_framework.test import APIClient

from crm.models import SmsConsent
from sms.models import ConsentEvent, Message
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

CONSENT = "/api/v1/sms/consent/"
MESSAGES = "/api/v1/sms/messages/"
PROOF = {
    "disclosure": "Yes, text me about my account",
    "url": "https://example.com/signup",
    "ip": "203.0.113.7",
}


def test_record_consent_and_read_the_ledger(api, user):
    contact = ContactFactory()
    response = api.post(
        CONSENT, {"contact": contact.pk, "action": "opt_in", "source": "web_form", "proof": PROOF}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["actor"] == user.pk and response.json()["phone"] == contact.phone
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN
    assert api.get(f"/api/v1/contacts/{contact.pk}/").json()["sms_consent"] == "opted_in"
    api.post(CONSENT, {"contact": contact.pk, "action": "opt_out", "source": "api"})
    listed = api.get(CONSENT, {"contact": contact.pk}).json()
    assert [row["action"] for row in listed["results"]] == ["opt_out", "opt_in"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"action": "opt_in", "source": "web_form", "proof": {}}, "proof"),
        ({"action": "maybe", "source": "web_form"}, "action"),
        ({"action": "opt_out", "source": "carrier-pigeon"}, "source"),
        ({"action": "opt_out", "source": "api", "contact": 999999}, "contact"),
        ({"action": "opt_out", "source": "api", "proof": "yes"}, "proof"),
    ],
)
def test_bad_consent_is_400_naming_the_field(api, payload, field):
    contact = ContactFactory()
    response = api.post(CONSENT, {"contact": contact.pk, **payload}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not ConsentEvent.objects.exists()


def test_consent_ledger_cannot_be_edited_over_the_api(api):
    contact = ContactFactory()
    event_id = api.post(CONSENT, {"contact": contact.pk, "action": "opt_out", "source": "api"}).json()["id"]
    assert api.patch(f"{CONSENT}{event_id}/", {"action": "opt_in"}).status_code == 405
    assert api.delete(f"{CONSENT}{event_id}/").status_code == 405


def test_send_queues_a_message(api, user):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    response = api.post(MESSAGES, {"contact": contact.pk, "body": "Hi from the API"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["direction"], body["segments"], body["encoding"]) == (
        "queued",
        "outbound",
        1,
        "GSM-7",
    )
    assert body["sent_by"] == user.pk
    assert Message.objects.get().body == "Hi from the API"


@pytest.mark.parametrize("state", [SmsConsent.UNKNOWN, SmsConsent.OPTED_OUT])
def test_not_opted_in_is_409(api, state):
    contact = ContactFactory(sms_consent=state)
    response = api.post(MESSAGES, {"contact": contact.pk, "body": "Hi"})
    assert response.status_code == 409
    assert response.json()["code"] in {"not_opted_in", "opted_out"}
    assert not Message.objects.exists()


def test_other_governance_refusals_are_422_with_the_reason(api):
    contact = ContactFactory(phone=None, phone_raw="", sms_consent=SmsConsent.OPTED_IN)
    response = api.post(MESSAGES, {"contact": contact.pk, "body": "Hi"})
    assert response.status_code == 422
    assert response.json() == {"detail": f"{contact} has no phone number.", "code": "no_phone"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"body": ""}, "body"), ({"body": "x" * 1601}, "body"), ({"contact": 999999, "body": "Hi"}, "contact")],
)
def test_bad_send_input_is_400(api, payload, field):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    response = api.post(MESSAGES, {"contact": contact.pk, **payload})
    assert response.status_code == 400 and field in response.json()


def test_idempotency_key_over_the_api(api):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    payload = {"contact": contact.pk, "body": "Once", "idempotency_key": "crm-sync-42"}
    first = api.post(MESSAGES, payload).json()
    second = api.post(MESSAGES, payload).json()
    assert first["id"] == second["id"] and Message.objects.count() == 1


def test_list_filters_and_constant_queries(api, django_assert_max_num_queries):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    other = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    for i in range(3):
        api.post(MESSAGES, {"contact": contact.pk, "body": f"m{i}"})
    api.post(MESSAGES, {"contact": other.pk, "body": "other"})
    results = api.get(MESSAGES, {"contact": contact.pk, "direction": "outbound", "status": "queued"}).json()
    assert sorted(m["body"] for m in results["results"]) == ["m0", "m1", "m2"]
    with django_assert_max_num_queries(6) as few:
        api.get(MESSAGES)
    baseline = len(few)  # read now: every request resets Django's query log
    for i in range(30):
        api.post(MESSAGES, {"contact": other.pk, "body": f"n{i}"})
    with django_assert_max_num_queries(baseline):
        assert len(api.get(MESSAGES).json()["results"]) == 34


def test_sms_endpoints_need_auth(anon_api):
    assert anon_api.get(MESSAGES).status_code == 401
    assert anon_api.post(CONSENT, {}).status_code == 401


def test_idempotency_key_is_scoped_to_the_caller(api, user):
    """Regression: the key was global, so a second caller reusing it for another contact got
    the first caller's message back and nothing was sent."""
    from crm.models import ApiToken
    from tests.factories import UserFactory

    first_contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    second_contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    first = api.post(MESSAGES, {"contact": first_contact.pk, "body": "Yours", "idempotency_key": "sync-1"})
    assert first.status_code == 201

    other_user = UserFactory(username="bob", role="manager")
    _, other_key = ApiToken.issue(user=other_user, name="bob's sync")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {other_key}")
    second = other.post(MESSAGES, {"contact": second_contact.pk, "body": "Mine", "idempotency_key": "sync-1"})
    assert second.status_code == 201, second.json()
    assert second.json()["id"] != first.json()["id"]
    assert (second.json()["contact"], second.json()["body"]) == (second_contact.pk, "Mine")
    assert Message.objects.filter(contact=second_contact, body="Mine").count() == 1

    # The same caller through the browser session is another caller than its token.
    web = APIClient()
    web.force_login(user)
    third = web.post(MESSAGES, {"contact": first_contact.pk, "body": "Yours", "idempotency_key": "sync-1"})
    assert third.status_code == 201 and third.json()["id"] != first.json()["id"]


def test_idempotency_key_reused_for_another_message_is_422(api):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    api.post(MESSAGES, {"contact": contact.pk, "body": "First", "idempotency_key": "k-9"})
    again = api.post(MESSAGES, {"contact": contact.pk, "body": "Something else", "idempotency_key": "k-9"})
    assert again.status_code == 422
    assert again.json()["code"] == "idempotency_key_reused"
    assert Message.objects.count() == 1
