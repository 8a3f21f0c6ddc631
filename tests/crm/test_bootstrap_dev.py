from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from crm.management.commands import bootstrap_dev

pytestmark = pytest.mark.django_db


@pytest.fixture
def password_file(tmp_path, monkeypatch):
    path = tmp_path / ".local" / "admin-password"
    monkeypatch.setattr(bootstrap_dev, "PASSWORD_FILE", path)
    monkeypatch.setattr(bootstrap_dev.settings, "BASE_DIR", tmp_path)
    return path


def run(*args):
    out = StringIO()
    call_command("bootstrap_dev", *args, stdout=out)
    return out.getvalue()


def test_creates_an_admin_once_and_prints_a_working_login(password_file):
    output = run("--no-demo")
    password = password_file.read_text().strip()
    assert f"admin / {password}" in output
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password) and admin.role == "admin"
    assert f"admin / {password}" in run("--no-demo")  # printed again, not recreated
    assert get_user_model().objects.filter(username="admin").count() == 1


def test_does_not_print_a_stale_password(password_file):
    run("--no-demo")
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed-by-the-owner")
    admin.save()
    output = run("--no-demo")
    assert password_file.read_text().strip() not in output
    assert "changepassword admin" in output
