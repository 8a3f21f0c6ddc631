"""Settings for Lifecycle CRM, read from the environment (see README, "Configuration")."""

import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config import hooks
from config.env import env_bool, env_choice, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent

# Development is the default (like `startproject`); production sets DEBUG=false, which then
# requires SECRET_KEY, ALLOWED_HOSTS and PUBLIC_BASE_URL.
DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
PUBLIC_BASE_URL = env_url(
    "PUBLIC_BASE_URL", "http://127.0.0.1:8000" if DEBUG else "", schemes={"http", "https"}
)
if not DEBUG and not PUBLIC_BASE_URL:
    raise ImproperlyConfigured("PUBLIC_BASE_URL must be set when DEBUG is false")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_BASE_URL] if PUBLIC_BASE_URL else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "django_htmx",
    "core",
    "crm",
    "sms",
    "plays",
    "analytics",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
]

if not DEBUG:
    # Production serves collected static files itself (run `manage.py collectstatic`).
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
except ValueError as exc:  # unknown scheme or malformed URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a usable database URL: {exc}") from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions let the web process and the worker share the file
    # without "database is locked" errors under normal development load.
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: django-q2 broker and cache when set ------------------------------------------------
REDIS_URL = env_url("REDIS_URL", schemes={"redis", "rediss", "unix"})
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "lcrm",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

Q_CLUSTER = {
    "name": "lifecycle-crm",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    # A task may run for at most `timeout` seconds; `retry` must exceed it or tasks run twice.
    "timeout": 60,
    "retry": 90,
    "max_attempts": 3,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "crm.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18N / time ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Region used to parse phone numbers typed without a country code.
DEFAULT_PHONE_REGION = env_str("DEFAULT_PHONE_REGION", "US").upper()
# The team's currency (ISO 4217), shown with every amount in the UI: "$12,000", "€12,000", "CHF 12,000".
CURRENCY = env_str("CURRENCY", "USD").upper()

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}


# --- SMS / Twilio -----------------------------------------------------------------------------
def _sms_providers() -> set[str]:
    from sms.providers import PROVIDERS  # the registry: a provider added there is a valid choice

    return set(PROVIDERS)


SMS_PROVIDER = env_choice("SMS_PROVIDER", "console", _sms_providers())
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER")
# Quiet hours: automated and manual texts go out only between these local hours
# (start inclusive, end exclusive) in the contact's timezone; outside, they wait.
SMS_QUIET_HOURS_START = env_int("SMS_QUIET_HOURS_START", 8, minimum=0)
SMS_QUIET_HOURS_END = env_int("SMS_QUIET_HOURS_END", 21, minimum=1)
if not SMS_QUIET_HOURS_START < SMS_QUIET_HOURS_END <= 24:
    raise ImproperlyConfigured("SMS_QUIET_HOURS_START must be before SMS_QUIET_HOURS_END (hours 0-24)")
SMS_DEFAULT_TIMEZONE = env_str("SMS_DEFAULT_TIMEZONE", "America/New_York")
try:
    zoneinfo.ZoneInfo(SMS_DEFAULT_TIMEZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"SMS_DEFAULT_TIMEZONE={SMS_DEFAULT_TIMEZONE!r} is not a timezone") from None
SMS_SEGMENTS_PER_SECOND = env_int("SMS_SEGMENTS_PER_SECOND", 1, minimum=0)  # 0 = no pacing
SMS_MAX_ATTEMPTS = env_int("SMS_MAX_ATTEMPTS", 6, minimum=1)
SMS_OPT_OUT_REPLY = env_str(
    "SMS_OPT_OUT_REPLY",
    "You are unsubscribed and will receive no more texts from us. Reply START to resubscribe.",
)
SMS_OPT_IN_REPLY = env_str(
    "SMS_OPT_IN_REPLY",
    "You are subscribed to texts from us again. Msg&data rates may apply. Reply STOP to opt out.",
)
SMS_HELP_REPLY = env_str(
    "SMS_HELP_REPLY", "Reply STOP to unsubscribe or START to resubscribe. Msg&data rates may apply."
)
# The console provider reports 'delivered' this many seconds (min, max) after sending, so a
# person watching the contact page sees queued -> sent -> delivered.
SMS_CONSOLE_DELIVERY_DELAY = (2.0, 3.0)
if SMS_PROVIDER == "twilio":
    _missing = [n for n in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not globals()[n]]
    if not (TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER):
        _missing.append("TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER")
    if _missing:
        raise ImproperlyConfigured(f"SMS_PROVIDER=twilio needs {', '.join(_missing)}")

# --- Governance of automated texts -----------------------------------------------------------
GOVERNANCE_CONTACT_DAILY_CAP = env_int("GOVERNANCE_CONTACT_DAILY_CAP", 1, minimum=0)
GOVERNANCE_CONTACT_WEEKLY_CAP = env_int("GOVERNANCE_CONTACT_WEEKLY_CAP", 3, minimum=0)
GOVERNANCE_ACCOUNT_WEEKLY_CAP = env_int("GOVERNANCE_ACCOUNT_WEEKLY_CAP", 5, minimum=0)
# A human is engaged: hold automated texts while an agent replied this recently...
GOVERNANCE_AGENT_REPLY_HOURS = env_int("GOVERNANCE_AGENT_REPLY_HOURS", 48, minimum=0)
# ...or another channel (email, call, meeting on the timeline) touched them this recently...
GOVERNANCE_OTHER_CHANNEL_HOURS = env_int("GOVERNANCE_OTHER_CHANNEL_HOURS", 72, minimum=0)
# ...or their account has an open deal in a late stage.
GOVERNANCE_LATE_STAGE_DEAL_SUPPRESSES = env_bool("GOVERNANCE_LATE_STAGE_DEAL_SUPPRESSES", True)

# --- Reply inbox ------------------------------------------------------------------------------
# SLA clocks run only in business hours, in the team's timezone.
INBOX_TIMEZONE = env_str("INBOX_TIMEZONE", SMS_DEFAULT_TIMEZONE)
try:
    zoneinfo.ZoneInfo(INBOX_TIMEZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"INBOX_TIMEZONE={INBOX_TIMEZONE!r} is not a timezone") from None
INBOX_BUSINESS_HOURS_START = env_int("INBOX_BUSINESS_HOURS_START", 9, minimum=0)
INBOX_BUSINESS_HOURS_END = env_int("INBOX_BUSINESS_HOURS_END", 17, minimum=1)
if not INBOX_BUSINESS_HOURS_START < INBOX_BUSINESS_HOURS_END <= 24:
    raise ImproperlyConfigured("INBOX_BUSINESS_HOURS_START must be before INBOX_BUSINESS_HOURS_END (0-24)")
INBOX_BUSINESS_DAYS = env_str("INBOX_BUSINESS_DAYS", "mon-fri")
try:
    from sms.inbox.business_hours import parse_workdays as _parse_workdays

    _parse_workdays(INBOX_BUSINESS_DAYS)
except ValueError as exc:
    raise ImproperlyConfigured(f"INBOX_BUSINESS_DAYS={INBOX_BUSINESS_DAYS!r}: {exc}") from None
# Business hours to answer each high-intent reply: "help=1,meeting=1,pricing=4,opt_out=1".
INBOX_SLA_HOURS = {"help": 1.0, "meeting": 1.0, "pricing": 4.0, "opt_out": 1.0}
for _item in env_list("INBOX_SLA_HOURS", []):
    _intent, _, _hours = _item.partition("=")
    try:
        INBOX_SLA_HOURS[_intent.strip()] = float(_hours)
    except ValueError:
        raise ImproperlyConfigured(f"INBOX_SLA_HOURS item {_item!r} is not intent=hours") from None

# Where crm and sms call or show code of the apps built on them (each with why): config/hooks.py.
EVENT_HOOKS = hooks.EVENT_HOOKS
REPLY_OWNER_HOOKS = hooks.REPLY_OWNER_HOOKS
MERGE_HOOKS = hooks.MERGE_HOOKS
CONTACT_NUMBER_HOOKS = hooks.CONTACT_NUMBER_HOOKS
IMPORT_KINDS = hooks.IMPORT_KINDS
CONTACT_PAGE_PANELS = hooks.CONTACT_PAGE_PANELS
SEARCH_PROVIDERS = hooks.SEARCH_PROVIDERS

# Periodic jobs, created or updated by name by `manage.py setup_schedules`:
# name -> (task path, django-q schedule type, minutes).
PERIODIC_JOBS = {
    "sms: sweep outbox": ("sms.tasks.sweep_outbox", "I", 1),
    "sms: wake snoozed conversations": ("sms.tasks.wake_conversations", "I", 5),
    "plays: run scheduled plays": ("plays.tasks.run_scheduled_plays", "I", 15),
    "crm: resume stalled imports": ("crm.imports.tasks.imports_resume_stalled", "I", 5),
    "analytics: refresh dashboard snapshots": ("analytics.tasks.refresh_snapshots", "I", 30),
}

# --- Security ---------------------------------------------------------------------------------
# Everything from our own origin; no inline scripts or styles; no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)

# --- Analytics ------------------------------------------------------------------------------
# Expensive answers are kept as snapshots; the scheduled job refreshes the dashboard's every 30
# minutes, and an answer for other filters is reused for this long before it is recomputed.
ANALYTICS_SNAPSHOT_MAX_AGE_MINUTES = env_int("ANALYTICS_SNAPSHOT_MAX_AGE_MINUTES", 60, minimum=0)

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so unauthenticated API calls answer 401 with WWW-Authenticate.
        "crm.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "crm.api_support.RecordSearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "crm.api_support.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["crm.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env_str("API_THROTTLE_RATE", "1200/min")},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Lifecycle CRM API",
    "DESCRIPTION": (
        "Accounts, contacts, deals, renewals, orders, events, tasks and the activity "
        "timeline, plus the SMS lifecycle module. Authenticate with "
        "`Authorization: Token <key>` (create keys in the UI or with "
        "`python manage.py create_api_token <username>`)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
