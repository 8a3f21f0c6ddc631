"""Operations settings: a .env file fills in what the environment does not set; SENTRY_DSN turns
error reporting on (no network here: events go to a capturing transport)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from core.logs import request_id_var
from core.sentry import sentry_init

ROOT = Path(__file__).resolve().parent.parent
SHOW = "from django.conf import settings as s; print(s.SMS_QUIET_HOURS_START, s.INBOX_TIMEZONE, s.LOG_FORMAT)"


def settings_seen(**env) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "ENV_FILE", *env}}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SHOW],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_a_dotenv_file_fills_in_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# deploy settings\nSMS_QUIET_HOURS_START=9\nINBOX_TIMEZONE=Europe/Paris\nLOG_FORMAT=json\n"
    )
    assert settings_seen(ENV_FILE=str(env_file)) == "9 Europe/Paris json"
    assert settings_seen(ENV_FILE=str(env_file), INBOX_TIMEZONE="America/Chicago") == "9 America/Chicago json"
    assert settings_seen(ENV_FILE="", DEBUG="true").startswith("8 ")  # no file: the defaults


def test_a_bad_value_in_the_dotenv_file_is_named(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_FORMAT=xml\n")
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "LOG_FORMAT"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, "ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0 and "LOG_FORMAT='xml'" in result.stderr


class Captured(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)


@pytest.fixture
def sentry():
    transport = Captured()
    sentry_init("https://public@sentry.invalid/1", environment="test", transport=transport)
    yield transport
    sentry_sdk.init()  # no DSN: reporting off again
    request_id_var.set(None)


def test_sentry_events_carry_the_request_id(sentry):
    request_id_var.set("req-sentry-1")
    sentry_sdk.capture_message("something broke")
    sentry_sdk.flush()
    events = [
        item.payload.json for envelope in sentry.envelopes for item in envelope.items if item.type == "event"
    ]
    assert events and events[0]["tags"]["request_id"] == "req-sentry-1"
    assert events[0]["environment"] == "test" and "user" not in events[0]


@pytest.mark.django_db
def test_an_unhandled_error_is_reported_with_its_request_id(sentry, api, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr("crm.api.views.AccountViewSet.list", explode)
    api.raise_request_exception = False
    response = api.get("/api/v1/accounts/", HTTP_X_REQUEST_ID="req-500")
    assert response.status_code == 500
    sentry_sdk.flush()
    events = [
        item.payload.json for envelope in sentry.envelopes for item in envelope.items if item.type == "event"
    ]
    assert [event["tags"]["request_id"] for event in events] == ["req-500"]
    assert events[0]["exception"]["values"][0]["type"] == "RuntimeError"


def test_settings_turn_sentry_on_with_a_dsn():
    clean = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "import sentry_sdk; print(sentry_sdk.get_client().is_active())",
        ],
        cwd=ROOT,
        env={**clean, "ENV_FILE": "", "SENTRY_DSN": "https://public@sentry.invalid/1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"
