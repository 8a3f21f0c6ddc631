"""The team: users/ and users/me/ in the API, the team page and own settings in the UI."""

import pytest
from rest_framework.test import APIClient

from crm.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    _, key = ApiToken.issue(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def admin_user():
    return UserFactory(username="root", role="admin")


def test_users_list_fields(api, user, django_assert_max_num_queries):
    boss = UserFactory(username="boss", first_name="Bea", last_name="Boss", role="manager")
    for n in range(5):
        UserFactory(username=f"agent{n}", manager=boss, timezone="Europe/Paris")
    with django_assert_max_num_queries(6):
        response = api.get("/api/v1/users/")
    assert response.status_code == 200
    rows = {row["username"]: row for row in response.json()["results"]}
    assert rows["agent0"]["manager"] == boss.pk
    assert rows["agent0"]["timezone"] == "Europe/Paris"
    assert rows["boss"]["full_name"] == "Bea Boss"
    assert set(rows["boss"]) >= {"id", "username", "full_name", "role", "manager", "timezone", "is_active"}


def test_me(api, user):
    response = api.get("/api/v1/users/me/")
    assert response.status_code == 200
    assert response.json()["username"] == user.username
    response = api.patch(
        "/api/v1/users/me/", {"timezone": "Asia/Tokyo", "notify_by_email": True}, format="json"
    )
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.timezone, user.notify_by_email) == ("Asia/Tokyo", True)


def test_me_cannot_promote_self(api, user):
    response = api.patch("/api/v1/users/me/", {"role": "admin"}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.role == "manager"


def test_only_admins_patch_users(api, user):
    other = UserFactory(username="bob")
    response = api.patch(f"/api/v1/users/{other.pk}/", {"role": "admin"}, format="json")
    assert response.status_code == 403
    other.refresh_from_db()
    assert other.role == "agent"


def test_admin_patches_role_manager_timezone(admin_user):
    client = _client(admin_user)
    boss = UserFactory(username="boss", role="manager")
    agent = UserFactory(username="agent")
    response = client.patch(
        f"/api/v1/users/{agent.pk}/",
        {"role": "manager", "manager": boss.pk, "timezone": "America/Chicago"},
        format="json",
    )
    assert response.status_code == 200, response.content
    agent.refresh_from_db()
    assert (agent.role, agent.manager_id, agent.timezone) == ("manager", boss.pk, "America/Chicago")


def test_bad_timezone_is_400(admin_user):
    client = _client(admin_user)
    agent = UserFactory(username="agent")
    response = client.patch(f"/api/v1/users/{agent.pk}/", {"timezone": "Mars/Olympus"}, format="json")
    assert response.status_code == 400
    assert "IANA" in str(response.json()["timezone"])


def test_manager_cycle_is_400(admin_user):
    client = _client(admin_user)
    a = UserFactory(username="a")
    b = UserFactory(username="b", manager=a)
    c = UserFactory(username="c", manager=b)
    response = client.patch(f"/api/v1/users/{a.pk}/", {"manager": c.pk}, format="json")
    assert response.status_code == 400
    assert "loop" in str(response.json()["manager"])
    response = client.patch(f"/api/v1/users/{a.pk}/", {"manager": a.pk}, format="json")
    assert response.status_code == 400
    a.refresh_from_db()
    assert a.manager_id is None


def test_anonymous_is_401(anon_api):
    assert anon_api.get("/api/v1/users/").status_code == 401


def test_team_page_admin_edits(client, admin_user):
    client.force_login(admin_user)
    boss = UserFactory(username="boss", role="manager")
    agent = UserFactory(username="agent")
    page = client.get("/settings/users/")
    assert page.status_code == 200
    assert f'id="user-form-{agent.pk}"' in page.text
    response = client.post(
        f"/settings/users/{agent.pk}/",
        {
            f"u{agent.pk}-role": "agent",
            f"u{agent.pk}-manager": boss.pk,
            f"u{agent.pk}-timezone": "Europe/Berlin",
        },
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert (agent.manager_id, agent.timezone) == (boss.pk, "Europe/Berlin")


def test_team_page_rejects_cycle_with_message(client, admin_user):
    client.force_login(admin_user)
    a = UserFactory(username="a")
    b = UserFactory(username="b", manager=a)
    response = client.post(
        f"/settings/users/{a.pk}/", {f"u{a.pk}-role": "agent", f"u{a.pk}-manager": b.pk}, follow=True
    )
    assert "loop" in response.text
    a.refresh_from_db()
    assert a.manager_id is None


def test_team_page_agents_read_only(web, user):
    agent = UserFactory(username="agent")
    page = web.get("/settings/users/")
    assert page.status_code == 200
    assert f'id="user-form-{agent.pk}"' not in page.text
    response = web.post(f"/settings/users/{agent.pk}/", {f"u{agent.pk}-role": "admin"})
    assert response.status_code == 403


def test_own_settings(web, user):
    response = web.post("/settings/me/", {"timezone": "Asia/Kolkata", "notify_by_email": "on"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.timezone, user.notify_by_email) == ("Asia/Kolkata", True)
