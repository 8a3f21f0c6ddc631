import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from core.idempotency import idempotency_keys_purge
from core.models import IdempotencyKey
from crm.api.views import ContactViewSet
from crm.models import ApiToken, Contact
from tests.factories import UserFactory

CONTACTS = "/api/v1/contacts/"


def token_client(user) -> APIClient:
    _, key = ApiToken.issue(user=user, name="idempotency tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def post(client, body, key="order-sync-1"):
    return client.post(CONTACTS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_same_key_and_body_replays_the_first_answer(api):
    first = post(api, {"first_name": "Ann", "email": "ann@example.com"})
    again = post(api, {"first_name": "Ann", "email": "ann@example.com"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert again["Location"] == first["Location"]
    assert Contact.objects.count() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(api):
    post(api, {"first_name": "Ann"})
    changed = post(api, {"first_name": "Bob"})
    assert changed.status_code == 422
    assert changed.json()["code"] == "idempotency_key_reused"
    assert list(Contact.objects.values_list("first_name", flat=True)) == ["Ann"]


@pytest.mark.django_db
def test_same_key_on_another_endpoint_is_422(api):
    post(api, {"name": "Acme"})  # a 400 on contacts is kept too: a decision on that body
    other = api.post(
        "/api/v1/accounts/", {"name": "Acme"}, format="json", HTTP_IDEMPOTENCY_KEY="order-sync-1"
    )
    assert other.status_code == 422


@pytest.mark.django_db
def test_keys_are_scoped_to_the_caller(api, user):
    post(api, {"first_name": "Ann"})
    other_token = token_client(UserFactory(username="bob", role="manager"))
    assert post(other_token, {"first_name": "Ann"}).status_code == 201
    same_user_other_token = token_client(user)
    assert post(same_user_other_token, {"first_name": "Ann"}).status_code == 201
    browser = APIClient()
    browser.force_login(user)
    assert post(browser, {"first_name": "Ann"}).status_code == 201
    replay = post(browser, {"first_name": "Ann"})
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert Contact.objects.count() == 4


@pytest.mark.django_db
def test_answers_that_never_ran_are_not_kept(anon_api, api):
    assert post(anon_api, {"first_name": "Ann"}).status_code == 401
    assert not IdempotencyKey.objects.exists()
    assert post(api, {"first_name": "Ann"}).status_code == 201


@pytest.mark.django_db
def test_a_key_still_running_answers_409(api, user):
    token = ApiToken.objects.get(user=user)
    IdempotencyKey.objects.create(scope=f"token:{token.pk}", key="busy", fingerprint="x" * 64)
    response = post(api, {"first_name": "Ann"}, key="busy")
    assert response.status_code == 422  # another body: the fingerprint differs
    IdempotencyKey.objects.filter(key="busy").delete()
    response = post(api, {"first_name": "Ann"}, key="busy")
    assert response.status_code == 201
    record = IdempotencyKey.objects.get(key="busy")
    IdempotencyKey.objects.filter(pk=record.pk).update(status_code=None)
    running = post(api, {"first_name": "Ann"}, key="busy")
    assert running.status_code == 409 and running["Retry-After"] == "1"
    assert running.json()["code"] == "idempotency_key_in_use"
    assert Contact.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_a_malformed_key_is_400(api, key):
    response = post(api, {"first_name": "Ann"}, key=key)
    assert response.status_code == 400 and response.json()["code"] == "invalid_idempotency_key"
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_get_and_requests_without_a_key_are_untouched(api):
    api.post(CONTACTS, {"first_name": "Ann"}, format="json")
    api.post(CONTACTS, {"first_name": "Ann"}, format="json")
    assert api.get(CONTACTS, HTTP_IDEMPOTENCY_KEY="k").status_code == 200
    assert Contact.objects.count() == 2 and not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_keys_are_kept_a_day_then_forgotten(api):
    start = timezone.now()
    post(api, {"first_name": "Ann"})
    with time_machine.travel(start + timedelta(hours=23, minutes=59)):
        assert post(api, {"first_name": "Ann"})["Idempotent-Replayed"] == "true"
        assert idempotency_keys_purge() == 0
    with time_machine.travel(start + timedelta(hours=24, minutes=1)):
        fresh = post(api, {"first_name": "Ann"})
        assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh
    assert Contact.objects.count() == 2
    with time_machine.travel(start + timedelta(hours=49)):
        assert idempotency_keys_purge() == 1
    assert not IdempotencyKey.objects.exists()


@pytest.mark.postgres
# serialized_rollback: the flush after this committing test must not re-create content types
# under new ids, which the browser tests' serialized rollback (tests/e2e) would then collide with.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_identical_requests_at_once_run_once(monkeypatch):
    """The second request arrives while the first is inside the view: it must not run too."""
    user = UserFactory(username="racer", role="manager")
    first_inside, second_done = threading.Event(), threading.Event()
    original = ContactViewSet.perform_create

    def slow_perform_create(self, serializer):
        if not first_inside.is_set():
            first_inside.set()
            second_done.wait(timeout=10)
        return original(self, serializer)

    monkeypatch.setattr(ContactViewSet, "perform_create", slow_perform_create)
    client = token_client(user)
    answers = {}

    def first():
        try:
            answers["first"] = post(client, {"first_name": "Ann"}, key="race")
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_inside.wait(timeout=10)
    answers["second"] = post(client, {"first_name": "Ann"}, key="race")
    second_done.set()
    thread.join(timeout=20)
    assert answers["first"].status_code == 201
    assert answers["second"].status_code == 409
    assert Contact.objects.count() == 1
    replay = post(client, {"first_name": "Ann"}, key="race")
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == answers["first"].json()
