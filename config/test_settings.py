"""Settings for the test suite: the real settings, with test-only defaults for the env."""

import atexit
import os
import shutil
import tempfile

# The suite reads no .env file: what a developer keeps there must not change the tests.
os.environ.setdefault("ENV_FILE", "")
os.environ.setdefault("SECRET_KEY", "test-secret-key-for-the-test-suite-only-0123456789abcdef")
os.environ.setdefault("PUBLIC_BASE_URL", "http://testserver")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("DEBUG", "false")
# Throttling has its own tests (with their own rates); the rest of the suite must never trip it.
os.environ.setdefault("API_THROTTLE_RATE", "100000/min")

from config.settings import *  # noqa: F403

# The console provider's record of sent texts: one folder per test process, never the project's.
# A folder given in the environment (a worker process the test started) is the test's to remove.
SMS_CONSOLE_OUTBOX_DIR = os.environ.get("SMS_CONSOLE_OUTBOX_DIR", "")
if not SMS_CONSOLE_OUTBOX_DIR:
    SMS_CONSOLE_OUTBOX_DIR = tempfile.mkdtemp(prefix="lcrm-console-")
    atexit.register(shutil.rmtree, SMS_CONSOLE_OUTBOX_DIR, ignore_errors=True)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECURE_SSL_REDIRECT = False
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Tests do not run collectstatic; the static finder serves assets in the test client.
MIDDLEWARE = [m for m in MIDDLEWARE if "whitenoise" not in m]  # noqa: F405
