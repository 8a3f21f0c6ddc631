from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from crm.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_printed_key_authenticates_against_the_api(user):
    key = _run("alice", "--name", "Warehouse sync")
    token = ApiToken.objects.get(user=user)
    assert token.name == "Warehouse sync"
    assert token.prefix == key[:8]
    assert token.key_hash == ApiToken.hash_key(key)  # only the hash is stored
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/accounts/").status_code == 200


def test_each_run_issues_a_new_key(user):
    assert _run("alice") != _run("alice")
    assert ApiToken.objects.filter(user=user, name="API token").count() == 2


def test_unknown_user_is_a_clear_error():
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        _run("nobody")
    assert not ApiToken.objects.exists()


def test_inactive_user_is_refused():
    UserFactory(username="gone", is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        _run("gone")
