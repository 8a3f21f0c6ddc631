"""API tokens page: create (key shown once), list own tokens, revoke."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework import exceptions
from rest_framework.test import APIRequestFactory

from crm.authentication import ApiTokenAuthentication
from crm.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def authenticate(key: str):
    request = APIRequestFactory().get("/api/v1/", HTTP_AUTHORIZATION=f"Token {key}")
    return ApiTokenAuthentication().authenticate(request)


def test_create_shows_the_key_once_and_it_authenticates(web, user):
    response = web.post(reverse("api_tokens"), {"name": "Billing sync"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    key = re.search(r'<code id="new-api-key" class="mono">([0-9a-f]{40})</code>', body).group(1)
    assert "It will not be shown again" in body

    token = ApiToken.objects.get(user=user, name="Billing sync")
    assert token.key_hash == ApiToken.hash_key(key)
    assert token.prefix == key[:8]
    authenticated_user, authenticated_token = authenticate(key)
    assert (authenticated_user, authenticated_token) == (user, token)

    later = web.get(reverse("api_tokens")).content.decode()
    assert key not in later
    assert "Billing sync" in later and f"{key[:8]}…" in later


def test_created_key_works_on_the_api_until_revoked(web):
    body = web.post(reverse("api_tokens"), {"name": "CI"}).content.decode()
    key = re.search(r'<code id="new-api-key" class="mono">([0-9a-f]{40})</code>', body).group(1)
    token = ApiToken.objects.get(name="CI")
    integration = Client()  # no session: the key alone must authenticate
    url = reverse("api-account-list")
    assert integration.get(url, HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert integration.get(url).status_code == 401
    web.post(reverse("api_token_revoke", args=[token.pk]))
    assert integration.get(url, HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_create_requires_a_name(web, user):
    response = web.post(reverse("api_tokens"), {"name": ""})
    assert "name" in response.context["form"].errors
    assert not ApiToken.objects.filter(user=user).exists()


def test_users_see_only_their_own_tokens(web, user):
    ApiToken.issue(user=user, name="Mine")
    ApiToken.issue(user=UserFactory(username="bob"), name="Bobs key")
    body = web.get(reverse("api_tokens")).content.decode()
    assert "Mine" in body
    assert "Bobs key" not in body


def test_revoke_stops_the_key_working(web, user):
    token, key = ApiToken.issue(user=user, name="Old integration")
    response = web.post(reverse("api_token_revoke", args=[token.pk]), follow=True)
    assert response.status_code == 200
    assert "Revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    with pytest.raises(exceptions.AuthenticationFailed):
        authenticate(key)


def test_revoke_is_post_only(web, user):
    token, _ = ApiToken.issue(user=user)
    assert web.get(reverse("api_token_revoke", args=[token.pk])).status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_another_users_token_cannot_be_revoked(web):
    token, key = ApiToken.issue(user=UserFactory(username="bob"), name="Bobs key")
    response = web.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert authenticate(key)[1] == token
