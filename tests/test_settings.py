"""Settings are read strictly from the environment, and production settings are deployable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
    "ALLOWED_HOSTS": "crm.example.com",
    "PUBLIC_BASE_URL": "https://crm.example.com",
}


def run_manage(*args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_check_deploy_without_warnings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({**PRODUCTION_ENV, "SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({**PRODUCTION_ENV, "PUBLIC_BASE_URL": "crm.example.com"}, "PUBLIC_BASE_URL"),
        ({"SMS_PROVIDER": "carrier-pigeon"}, "SMS_PROVIDER"),
        ({"SMS_PROVIDER": "twilio"}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_API_BASE_URL": "https://api.example.com"}, "TWILIO_API_BASE_URL"),
        ({"DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"Q_WORKERS": "two"}, "Q_WORKERS"),
    ],
)
def test_bad_configuration_stops_start_up_with_the_variable_named(env, message):
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_development_defaults_need_no_environment():
    result = run_manage("check")
    assert result.returncode == 0, result.stderr
