"""The plays API of the integration contract."""

import pytest

from plays.models import Arm, Enrollment, Outcome, Play, PlayStatus
from sms.models import Message
from tests.plays.conftest import make_play
from tests.plays.test_engine import _row_counts, renewing_account

pytestmark = pytest.mark.django_db

VALID = {
    "name": "Seat limit",
    "moment": "expansion",
    "trigger": {"type": "usage_threshold", "event": "seats_used", "property": "ratio", "gte": 0.9},
    "audience": {"plans": ["growth"]},
    "template": "Hi {first_name}, {account} is nearly full. {owner} can help.",
    "next_step": {"create_task": True, "task_title": "Talk seats", "route_replies_to_owner": True},
    "cooldown_days": 14,
    "holdout_percent": 20,
}


def test_anonymous_calls_are_refused(anon_api):
    assert anon_api.get("/api/v1/plays/").status_code == 401
    assert anon_api.post("/api/v1/plays/", VALID, format="json").status_code == 401


def test_create_list_and_edit(api, user):
    response = api.post("/api/v1/plays/", VALID, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft" and body["owner"] == user.pk and body["trigger"] == VALID["trigger"]
    play_id = body["id"]
    listed = api.get("/api/v1/plays/?status=draft").json()
    assert [play["id"] for play in listed["results"]] == [play_id]
    response = api.patch(f"/api/v1/plays/{play_id}/", {"holdout_percent": 5}, format="json")
    assert response.status_code == 200 and response.json()["holdout_percent"] == 5
    assert response.json()["primary_outcome"] == ""  # the moment's usual outcome
    response = api.patch(f"/api/v1/plays/{play_id}/", {"primary_outcome": "revenue"}, format="json")
    assert response.status_code == 200 and Play.objects.get(pk=play_id).primary == "revenue"
    assert api.put(f"/api/v1/plays/{play_id}/", VALID, format="json").status_code == 405


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trigger": {"type": "telepathy"}}, "trigger"),
        ({"trigger": {"type": "renewal_window", "days": -1}}, "trigger"),
        ({"template": "Hi {nickname}"}, "template"),
        ({"template": "Hi {first_name.upper}"}, "template"),
        ({"template": "Hi {"}, "template"),
        ({"holdout_percent": 51}, "holdout_percent"),
        ({"holdout_percent": -1}, "holdout_percent"),
        ({"audience": {"lifecycle_stages": ["bored"]}}, "audience"),
        ({"next_step": {"create_task": True}}, "next_step"),
        ({"moment": "whenever"}, "moment"),
        ({"primary_outcome": "happiness"}, "primary_outcome"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, change, field):
    response = api.post("/api/v1/plays/", {**VALID, **change}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert not Play.objects.exists()
    play = make_play()
    response = api.patch(f"/api/v1/plays/{play.pk}/", change, format="json")
    assert response.status_code == 400 and field in response.json()


def test_unknown_placeholder_is_named_in_the_error(api):
    response = api.post("/api/v1/plays/", {**VALID, "template": "Hi {nickname}"}, format="json")
    assert "{nickname}" in response.json()["template"][0]


def test_status_actions_and_run_conflicts(api):
    play_id = api.post("/api/v1/plays/", {**VALID, "trigger": {"type": "renewal_window", "days": 60}}).json()[
        "id"
    ]
    response = api.post(f"/api/v1/plays/{play_id}/run/")
    assert response.status_code == 409 and "draft" in response.json()["detail"]
    assert api.post(f"/api/v1/plays/{play_id}/activate/").json()["status"] == "active"
    assert api.post(f"/api/v1/plays/{play_id}/pause/").json()["status"] == "paused"
    assert api.post(f"/api/v1/plays/{play_id}/run/").status_code == 409
    assert api.post(f"/api/v1/plays/{play_id}/retire/").json()["status"] == "retired"
    response = api.post(f"/api/v1/plays/{play_id}/activate/")
    assert response.status_code == 409 and "retired" in response.json()["detail"]
    assert api.post(f"/api/v1/plays/{play_id}/run/").status_code == 409
    assert api.patch(f"/api/v1/plays/{play_id}/", {"name": "x"}, format="json").status_code == 409
    assert api.post("/api/v1/plays/999999/run/").status_code == 404


def test_preview_writes_nothing_and_run_decides(api):
    play = make_play(holdout_percent=0, status=PlayStatus.DRAFT)
    renewing_account(contacts=3)
    before = _row_counts()
    response = api.post(f"/api/v1/plays/{play.pk}/preview/")
    assert response.status_code == 200
    preview = response.json()
    assert preview["dry_run"] is True
    assert preview["outcomes"] == {"sent": 3, "deferred": 0, "suppressed": 0, "failed": 0}
    assert len(preview["samples"]) == 3 and "renews soon" in preview["samples"][0]["body"]
    assert _row_counts() == before
    api.post(f"/api/v1/plays/{play.pk}/activate/")
    run = api.post(f"/api/v1/plays/{play.pk}/run/").json()
    assert run["outcomes"]["sent"] == 3 and run["dry_run"] is False
    assert Message.objects.count() == 3
    again = api.post(f"/api/v1/plays/{play.pk}/run/").json()
    assert again["decided"] == 0 and again["already_decided"] == 3


def test_enrollments_list_filters_and_constant_queries(api, django_assert_max_num_queries):
    play = make_play(holdout_percent=50)
    renewing_account(contacts=30)
    api.post(f"/api/v1/plays/{play.pk}/run/")
    url = f"/api/v1/plays/{play.pk}/enrollments/"
    with django_assert_max_num_queries(8):
        page = api.get(url).json()
    assert len(page["results"]) == 30 and {"next", "previous", "results"} <= set(page)  # a cursor page
    row = page["results"][0]
    assert {"id", "play", "contact", "account", "arm", "outcome", "reason", "message", "decided_at"} <= set(
        row
    )
    control = api.get(url, {"arm": "control"}).json()
    assert len(control["results"]) == Enrollment.objects.filter(arm=Arm.CONTROL).count() > 0
    assert {r["reason"] for r in control["results"]} == {"holdout"}
    sent = api.get(url, {"outcome": "sent"}).json()
    assert len(sent["results"]) == Enrollment.objects.filter(outcome=Outcome.SENT).count()
    assert all(r["message"] for r in sent["results"])
    assert api.get(url, {"arm": "sideways"}).status_code == 400
    assert api.get("/api/v1/plays/999999/enrollments/").status_code == 404
    for _ in range(5):
        make_play()
    with django_assert_max_num_queries(6):
        assert api.get("/api/v1/plays/").status_code == 200


def test_schema_documents_the_plays_api_without_warnings(tmp_path):
    import yaml
    from django.core.management import call_command

    path = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(path))
    paths = yaml.safe_load(path.read_text())["paths"]
    for suffix in (
        "",
        "{id}/",
        "{id}/preview/",
        "{id}/activate/",
        "{id}/pause/",
        "{id}/retire/",
        "{id}/run/",
    ):
        assert f"/api/v1/plays/{suffix}" in paths
    assert set(paths["/api/v1/plays/{id}/"]) >= {"get", "patch"} and "put" not in paths["/api/v1/plays/{id}/"]
    enrollments = paths["/api/v1/plays/{id}/enrollments/"]["get"]
    assert {"arm", "outcome", "page"} <= {parameter["name"] for parameter in enrollments["parameters"]}
