"""Roles. Agents may look at plays and dry-run them; only managers and admins change them — in the
API, the pages and the admin. Only admins change users."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from crm.models import ApiToken
from plays.models import Play, PlayStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PLAY = {
    "name": "Renewal 60",
    "moment": "renewal",
    "trigger": {"type": "renewal_window", "days": 60},
    "template": "Hi {first_name}",
    "holdout_percent": 10,
}


def api_as(role: str) -> APIClient:
    _, key = ApiToken.issue(user=UserFactory(username=f"{role}-api", role=role), name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def web_as(role: str, **extra) -> Client:
    client = Client()
    client.force_login(UserFactory(username=f"{role}-web", role=role, **extra))
    return client


@pytest.fixture
def play():
    return Play.objects.create(**PLAY, status=PlayStatus.DRAFT)


def test_agents_read_and_preview_but_cannot_change_plays_in_the_api(play):
    agent = api_as("agent")
    assert agent.get("/api/v1/plays/").status_code == 200
    assert agent.post(f"/api/v1/plays/{play.pk}/preview/").status_code == 200
    assert agent.post("/api/v1/plays/", PLAY, format="json").status_code == 403
    assert agent.patch(f"/api/v1/plays/{play.pk}/", {"name": "x"}, format="json").status_code == 403
    for action in ("activate", "pause", "retire", "run"):
        assert agent.post(f"/api/v1/plays/{play.pk}/{action}/").status_code == 403
    play.refresh_from_db()
    assert (play.name, play.status) == ("Renewal 60", PlayStatus.DRAFT)


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_change_plays_in_the_api(play, role):
    client = api_as(role)
    assert (
        client.patch(f"/api/v1/plays/{play.pk}/", {"name": "Renewal sixty"}, format="json").status_code == 200
    )
    assert client.post(f"/api/v1/plays/{play.pk}/activate/").status_code == 200
    assert client.post("/api/v1/plays/", {**PLAY, "name": "Another"}, format="json").status_code == 201


def test_agents_cannot_change_plays_in_the_pages(play):
    agent = web_as("agent")
    assert agent.get(f"/plays/{play.pk}/").status_code == 200
    page = agent.get(f"/plays/{play.pk}/").content.decode()
    assert f"/plays/{play.pk}/edit/" not in page and f"/plays/{play.pk}/activate/" not in page
    assert "/plays/new/" not in agent.get("/plays/").content.decode()
    assert agent.get("/plays/new/").status_code == 403
    assert agent.get(f"/plays/{play.pk}/edit/").status_code == 403
    for action in ("activate", "pause", "retire", "run"):
        assert agent.post(f"/plays/{play.pk}/{action}/").status_code == 403
    play.refresh_from_db()
    assert play.status == PlayStatus.DRAFT
    manager = web_as("manager")
    assert manager.post(f"/plays/{play.pk}/activate/").status_code == 302
    play.refresh_from_db()
    assert play.status == PlayStatus.ACTIVE


def test_staff_agents_see_plays_in_the_admin_but_cannot_change_them(play):
    from django.contrib.auth.models import Permission

    agent_user = UserFactory(username="staff-agent", role="agent", is_staff=True)
    agent_user.user_permissions.set(Permission.objects.filter(codename__in=["view_play", "change_play"]))
    agent = Client()
    agent.force_login(agent_user)
    assert agent.get(f"/admin/plays/play/{play.pk}/change/").status_code == 200
    response = agent.post(f"/admin/plays/play/{play.pk}/change/", {"name": "hacked"})
    assert response.status_code == 403
    play.refresh_from_db()
    assert play.name == "Renewal 60"


@pytest.mark.parametrize("role,allowed", [("agent", False), ("manager", False), ("admin", True)])
def test_only_admins_change_users_in_the_admin(role, allowed):
    from django.contrib.auth.models import Permission

    staff = UserFactory(username=f"staff-{role}", role=role, is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=["view_user", "change_user"]))
    client = Client()
    client.force_login(staff)
    target = UserFactory(username="target", role="agent")
    response = client.post(
        f"/admin/crm/user/{target.pk}/change/",
        {"username": "target", "role": "admin", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"},
    )
    target.refresh_from_db()
    assert (target.role == "admin") is allowed
    assert response.status_code in ((302,) if allowed else (403,))
