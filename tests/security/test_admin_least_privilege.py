"""Staff granted every Django model permission still cannot reach what only admins (role) may:
django-q's schedules and tasks, intent rules, users, groups and other people's API tokens. A
schedule calls only our task functions, whoever saves it."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from config.admin_site import ADMIN_ONLY_MODELS
from crm.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def staff(role: str):
    user = UserFactory(username=f"staff-{role}", role=role, is_staff=True)
    user.user_permissions.set(Permission.objects.all())
    return user


def admin_urls(model) -> list[str]:
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    return [reverse(f"{prefix}_changelist"), reverse(f"{prefix}_add")]


def test_the_admin_only_models_are_all_registered():
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert ADMIN_ONLY_MODELS - registered <= {"django_q.ormq", "django_q.task"}


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_every_admin_model_as_staff_with_every_model_permission(client, role):
    client.force_login(staff(role))
    index = client.get("/admin/").content.decode()
    for model in admin.site._registry:
        label = model._meta.label_lower
        for url in admin_urls(model):
            status = client.get(url).status_code
            if label in ADMIN_ONLY_MODELS:
                assert status == 403, (label, url, status)
            else:
                assert status in (200, 302, 403), (label, url, status)
        if label in ADMIN_ONLY_MODELS:
            assert admin_urls(model)[0] not in index, label


def test_an_admin_reaches_them(client):
    client.force_login(staff("admin"))
    for model in admin.site._registry:
        if model._meta.label_lower in ADMIN_ONLY_MODELS:
            assert client.get(admin_urls(model)[0]).status_code == 200, model


def test_staff_cannot_revoke_an_admins_token(client):
    boss = UserFactory(username="boss", role="admin")
    token, _ = ApiToken.issue(user=boss, name="integration")
    client.force_login(staff("agent"))
    response = client.post(
        reverse("admin:crm_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_staff_cannot_create_a_schedule_or_edit_intent_rules(client):
    client.force_login(staff("manager"))
    response = client.post(
        reverse("admin:django_q_schedule_add"),
        {"name": "pwn", "func": "os.system", "args": "'id'", "schedule_type": "O", "repeats": "-1"},
    )
    assert response.status_code == 403 and not Schedule.objects.filter(name="pwn").exists()
    response = client.post(
        reverse("admin:sms_intentrule_add"),
        {"intent": "opt_out", "pattern": "hello", "confidence": "0.99", "position": "0", "is_active": "on"},
    )
    assert response.status_code == 403


@pytest.mark.parametrize("func", ["os.system", "subprocess.run", "sms.tasks._private", "sms.tasks.nope", ""])
def test_a_schedule_may_call_only_our_task_functions(client, func):
    client.force_login(UserFactory(username="root", role="admin", is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:django_q_schedule_add"),
        {
            "name": "pwn",
            "func": func,
            "schedule_type": "O",
            "repeats": "-1",
            "next_run_0": timezone.now().date().isoformat(),
            "next_run_1": "00:00:00",
        },
    )
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert not Schedule.objects.filter(name="pwn").exists()
    with pytest.raises(ValidationError):
        Schedule.objects.create(name="pwn", func=func, schedule_type=Schedule.ONCE)
    assert not Schedule.objects.filter(name="pwn").exists()


def test_our_task_functions_can_be_scheduled():
    Schedule.objects.create(name="sweep", func="sms.tasks.sweep_outbox", schedule_type=Schedule.MINUTES)
    assert Schedule.objects.filter(name="sweep").exists()
