"""Settings for Lifecycle CRM, read from the environment (see README, "Configuration")."""

import os
import zoneinfo
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from config import hooks
from config.env import env_bool, env_choice, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent

# A .env file (KEY=value lines) fills in variables the environment does not set: real
# environment variables always win. ENV_FILE names another file; ENV_FILE= (empty) reads none.
_env_file = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if _env_file:
    load_dotenv(_env_file, override=False)

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
    "config.apps.LifecycleAdminConfig",  # django.contrib.admin, admin-only models kept to admins
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
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "auditlog",
    "core",
    "crm",
    "sms",
    "plays",
    "analytics",
    "webhooks",
    "demo",
]

MIDDLEWARE = [
    # First: every response (redirects and errors too) and every log line carry the request id.
    "core.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outermost but security: Django's own HTML error pages under /api/ become the JSON error shape.
    "core.middleware.ApiErrorShapeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the session was confirmed with a two-factor code (django-otp)...
    "django_otp.middleware.OTPMiddleware",
    # ...which a session of a user with two-factor sign-in must be (crm.two_factor).
    "config.middleware.TwoFactorMiddleware",
    # Before the views: a repeated POST with the same Idempotency-Key replays the first answer.
    "core.idempotency.IdempotencyMiddleware",
    # Inside it, so a replayed 201 carries the same Location.
    "core.middleware.CreatedLocationMiddleware",
    "config.middleware.LoginRequiredMiddleware",
    "config.middleware.ChangeHistoryMiddleware",
    "config.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "config.middleware.NoStoreWhenAuthenticatedMiddleware",
    # Last, as django-axes asks: answers a locked-out sign-in with config.login.lockout_response.
    "axes.middleware.AxesMiddleware",
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

# Password reset by email (README "Accounts"): a link good for this long, and at most this many
# emails an hour to one address (the page answers the same either way) and requests from one client.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT_MINUTES", 60, minimum=5) * 60
PASSWORD_RESET_EMAILS_PER_HOUR = env_int("PASSWORD_RESET_EMAILS_PER_HOUR", 3, minimum=1)
PASSWORD_RESET_REQUESTS_PER_HOUR = env_int("PASSWORD_RESET_REQUESTS_PER_HOUR", 20, minimum=1)
# Optional TOTP two-factor sign-in (crm.two_factor); this forces admins to turn it on first.
REQUIRE_2FA_FOR_ADMINS = env_bool("REQUIRE_2FA_FOR_ADMINS", False)
OTP_TOTP_ISSUER = "Lifecycle CRM"  # the name authenticator apps show beside the code

# --- I18N / time ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Region used to parse phone numbers typed without a country code.
DEFAULT_PHONE_REGION = env_str("DEFAULT_PHONE_REGION", "US").upper()
# The team's currency (ISO 4217), shown with every amount in the UI: "$12,000", "€12,000", "CHF 12,000".
CURRENCY = env_str("CURRENCY", "USD").upper()

# --- Email (notifications to users who opted in) ---------------------------------------------
# Development prints emails to the console; production sends through SMTP (EMAIL_HOST etc.).
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Lifecycle CRM <crm@localhost>")

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Uploaded files (MMS attachments). Never served as public static files: people get them through
# an authenticated view, Twilio through a signed URL that expires (MMS_MEDIA_URL_MAX_AGE seconds).
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MMS_MEDIA_URL_MAX_AGE = env_int("MMS_MEDIA_URL_MAX_AGE", 86400, minimum=60)
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
# Tests only: the SDK talks to a simulated Twilio at this address instead of api.twilio.com (the
# crash-recovery fault test). Only a loopback address is accepted, so neither the credentials
# nor a text can leave the machine through it.
TWILIO_API_BASE_URL = env_url("TWILIO_API_BASE_URL", schemes={"http", "https"})
if TWILIO_API_BASE_URL and urlparse(TWILIO_API_BASE_URL).hostname not in {"127.0.0.1", "::1", "localhost"}:
    raise ImproperlyConfigured(
        f"TWILIO_API_BASE_URL={TWILIO_API_BASE_URL!r}: only a simulated Twilio on this machine "
        "(http://127.0.0.1:<port>) may stand in for api.twilio.com"
    )
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
# Where the console provider keeps what it "sent", so it can look texts up like a real provider.
SMS_CONSOLE_OUTBOX_DIR = env_str("SMS_CONSOLE_OUTBOX_DIR", str(BASE_DIR / "var" / "console-outbox"))
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
# Global control group (issue 17): this share of contacts, chosen by a stable hash of the
# contact id and GLOBAL_CONTROL_SALT (crm.global_control), gets no automated text from any play,
# so the whole programme can be measured against them. 0 (the default) turns it off; at most 50.
GLOBAL_CONTROL_PERCENT = min(env_int("GLOBAL_CONTROL_PERCENT", 0, minimum=0), 50)
GLOBAL_CONTROL_SALT = env_str("GLOBAL_CONTROL_SALT", "lcrm-global-control-v1")
# CLV tiers (issue 21): the nightly job ranks order customers by expected 12-month value; the top
# CLV_TIER_HIGH_PERCENTILE percent are "high", the bottom CLV_TIER_LOW_PERCENTILE percent "low".
CLV_TIER_HIGH_PERCENTILE = min(env_int("CLV_TIER_HIGH_PERCENTILE", 20, minimum=1), 99)
CLV_TIER_LOW_PERCENTILE = min(
    env_int("CLV_TIER_LOW_PERCENTILE", 50, minimum=0), 100 - CLV_TIER_HIGH_PERCENTILE
)
# What is drawn: each contact on its own, or whole accounts (every contact of an account shares
# the draw; a contact without an account falls back to its own), which lets NRR/GRR be compared.
GLOBAL_CONTROL_UNIT = env_choice("GLOBAL_CONTROL_UNIT", "contact", {"contact", "account"})
# A human is engaged: hold automated texts while an agent replied this recently...
GOVERNANCE_AGENT_REPLY_HOURS = env_int("GOVERNANCE_AGENT_REPLY_HOURS", 48, minimum=0)
# ...or another channel (email, call, meeting on the timeline) touched them this recently...
GOVERNANCE_OTHER_CHANNEL_HOURS = env_int("GOVERNANCE_OTHER_CHANNEL_HOURS", 72, minimum=0)
# ...or their account has an open deal in a late stage.
GOVERNANCE_LATE_STAGE_DEAL_SUPPRESSES = env_bool("GOVERNANCE_LATE_STAGE_DEAL_SUPPRESSES", True)
# Journeys (plays.journey): on PostgreSQL an advance runs this many advancers side by side, each
# on its own thread and database connection and its own lane of accounts; 1 turns it off.
JOURNEY_ADVANCERS = min(env_int("JOURNEY_ADVANCERS", 2, minimum=1), 8)

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
# Public holidays (the `holidays` package) on which SLA clocks stand still: an ISO country code
# ("US", "GB", "DE") and optionally a subdivision ("CA", "ENG", "BY"); empty: none.
INBOX_HOLIDAYS_COUNTRY = env_str("INBOX_HOLIDAYS_COUNTRY", "").upper()
INBOX_HOLIDAYS_SUBDIVISION = env_str("INBOX_HOLIDAYS_SUBDIVISION", "").upper()
try:
    from sms.inbox.business_hours import public_holidays as _public_holidays

    _public_holidays(INBOX_HOLIDAYS_COUNTRY, INBOX_HOLIDAYS_SUBDIVISION)
except ValueError as exc:
    raise ImproperlyConfigured(f"INBOX_HOLIDAYS_COUNTRY / INBOX_HOLIDAYS_SUBDIVISION: {exc}") from None
# Business hours to answer each high-intent reply: "help=1,meeting=1,pricing=4,opt_out=1".
# On an SLA breach the assignee's manager is always told; with this on, the conversation also
# moves to the next available agent (the fewest open conversations among those taking them).
INBOX_ESCALATION_REASSIGN = env_bool("INBOX_ESCALATION_REASSIGN", False)
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
CONTACT_SIGNAL_HOOKS = hooks.CONTACT_SIGNAL_HOOKS
MERGE_HOOKS = hooks.MERGE_HOOKS
CONTACT_NUMBER_HOOKS = hooks.CONTACT_NUMBER_HOOKS
IMPORT_KINDS = hooks.IMPORT_KINDS
CONTACT_PAGE_PANELS = hooks.CONTACT_PAGE_PANELS
CONTACT_BULK_ACTIONS = hooks.CONTACT_BULK_ACTIONS
HOME_PAGE_PANELS = hooks.HOME_PAGE_PANELS
EVENT_SUBSCRIBERS = hooks.EVENT_SUBSCRIBERS
SEARCH_PROVIDERS = hooks.SEARCH_PROVIDERS

# Periodic jobs, created or updated by name by `manage.py setup_schedules`:
# name -> (task path, django-q schedule type, minutes).
PERIODIC_JOBS = {
    "sms: sweep outbox": ("sms.tasks.sweep_outbox", "I", 1),
    "sms: wake snoozed conversations": ("sms.tasks.wake_conversations", "I", 5),
    # Revocation reviews: reminders 2 business days before the deadline, expiry at it.
    "sms: escalate revocation reviews": ("sms.tasks.escalate_revocation_reviews", "I", 15),
    "sms: SLA alarms and notification emails": ("sms.tasks.sweep_slas", "I", 1),
    "sms: send scheduled texts": ("sms.tasks.send_scheduled", "I", 1),
    "plays: run scheduled plays": ("plays.tasks.run_scheduled_plays", "I", 15),
    "plays: advance journeys": ("plays.tasks.advance_journeys", "I", 5),
    "crm: resume stalled imports": ("crm.imports.tasks.imports_resume_stalled", "I", 5),
    "analytics: refresh dashboard snapshots": ("analytics.tasks.refresh_snapshots", "I", 30),
    # Daily: train (or fall back to rules), score every account, then derive lifecycle stages.
    "analytics: score account health, derive stages": ("analytics.tasks.score_account_health", "D", None),
    "analytics: score CLV tiers": ("analytics.tasks.score_clv_tiers", "I", 1440),
    "webhooks: sweep due deliveries": ("webhooks.tasks.deliveries_sweep", "I", 1),
    "core: forget expired idempotency keys": ("core.idempotency.idempotency_keys_purge", "I", 60),
    "core: worker heartbeat": ("core.health.worker_heartbeat", "I", 1),
}

# The only modules whose functions a django-q schedule may call (core.schedules).
SCHEDULE_TASK_MODULES = (
    "sms.tasks",
    "plays.tasks",
    "crm.imports.tasks",
    "analytics.tasks",
    "webhooks.tasks",
    "core.idempotency",
    "core.health",
)

# --- Change history (django-auditlog) ---------------------------------------------------------
# Who changed what, when, from what to what, for the program's settings and the people who run
# it: shown on each object's page (plays) or its admin page (intent rules, ROI assumptions,
# users and roles). Bookkeeping the engine writes (run claims, timestamps) is left out.
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    {"model": "plays.play", "exclude_fields": ["running_since", "last_run_at", "updated_at"]},
    {"model": "sms.intentrule"},
    {"model": "analytics.assumption", "exclude_fields": ["updated_at"]},
    {"model": "crm.customfield", "exclude_fields": ["updated_at"]},
    {
        "model": "crm.user",
        "include_fields": [
            "username",
            "first_name",
            "last_name",
            "email",
            "role",
            "manager",
            "timezone",
            "is_active",
            "is_staff",
            "is_superuser",
        ],
    },
)
AUDITLOG_DISABLE_REMOTE_ADDR = True

# --- Outbound webhooks (README "Outbound webhooks") -------------------------------------------
# Receivers must be https and on public addresses; a development machine may relax either.
WEBHOOKS_ALLOW_HTTP = env_bool("WEBHOOKS_ALLOW_HTTP", DEBUG)
WEBHOOKS_ALLOW_PRIVATE_URLS = env_bool("WEBHOOKS_ALLOW_PRIVATE_URLS", False)
# One attempt's connect and read timeout, seconds: a slow receiver is a failed attempt.
WEBHOOKS_TIMEOUT = env_int("WEBHOOKS_TIMEOUT", 5, minimum=1)
# An endpoint whose every attempt has failed for this long is disabled (admins are told).
WEBHOOKS_DISABLE_AFTER_HOURS = env_int("WEBHOOKS_DISABLE_AFTER_HOURS", 5 * 24, minimum=1)

# --- Health probes ----------------------------------------------------------------------------
# /readyz fails (503) when the worker's heartbeat (a job every minute) or the oldest task
# waiting in the queue is older than these, or the broker does not answer within the timeout.
READYZ_WORKER_MAX_AGE_SECONDS = env_int("READYZ_WORKER_MAX_AGE_SECONDS", 300, minimum=60)
READYZ_QUEUE_MAX_AGE_SECONDS = env_int("READYZ_QUEUE_MAX_AGE_SECONDS", 300, minimum=1)
READYZ_BROKER_TIMEOUT_SECONDS = env_int("READYZ_BROKER_TIMEOUT_SECONDS", 2, minimum=1)

# --- Security ---------------------------------------------------------------------------------
# Everything from our own origin; no inline scripts or styles; no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Sign-in lockout (django-axes, config/login.py): per username + client address, in the database.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# How many reverse proxies of ours add to X-Forwarded-For in front of the app (0: none, trust
# only REMOTE_ADDR). Behind one load balancer: 1.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Tracked links (/l/<code>) followed per client address per minute before 429.
LINK_CLICKS_PER_MINUTE = env_int("LINK_CLICKS_PER_MINUTE", 60, minimum=1)
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = "config.login.failure_limit"
AXES_COOLOFF_TIME = "config.login.cool_off"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.login.lockout_response"
AXES_CLIENT_IP_CALLABLE = "core.ratelimit.client_address"
AXES_IPWARE_PROXY_COUNT = None
AXES_VERBOSE = False

# --- Analytics ------------------------------------------------------------------------------
# Expensive answers are kept as snapshots; the scheduled job refreshes the dashboard's every 30
# minutes, and an answer for other filters is reused for this long before it is recomputed.
ANALYTICS_SNAPSHOT_MAX_AGE_MINUTES = env_int("ANALYTICS_SNAPSHOT_MAX_AGE_MINUTES", 60, minimum=0)

# Account health (analytics/DEFINITIONS.md "Account health and churn risk"): the model learns
# from the team's history once it holds this many labelled renewals and churns; rules before.
HEALTH_MIN_RENEWALS = env_int("HEALTH_MIN_RENEWALS", 100, minimum=10)
HEALTH_MIN_CHURNS = env_int("HEALTH_MIN_CHURNS", 20, minimum=5)
# Lifecycle stage from data (crm/stages.py): the first days after sign-up are onboarding (or
# adopting, once the activation event came); a term ending within the window is the renewal
# window; seat use from this percent is an expansion signal.
LIFECYCLE_ONBOARDING_DAYS = env_int("LIFECYCLE_ONBOARDING_DAYS", 90, minimum=1)
LIFECYCLE_ACTIVATION_EVENT = env_str("LIFECYCLE_ACTIVATION_EVENT", "integration_connected")
LIFECYCLE_RENEWAL_WINDOW_DAYS = env_int("LIFECYCLE_RENEWAL_WINDOW_DAYS", 60, minimum=1)
LIFECYCLE_EXPANSION_SEAT_USE = env_int("LIFECYCLE_EXPANSION_SEAT_PERCENT", 90, minimum=1) / 100

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so unauthenticated API calls answer 401 with WWW-Authenticate.
        "crm.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "core.dates.DateBoundedFilterBackend",
        "crm.api_support.RecordSearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    # JSON nested past core.parsers.MAX_JSON_DEPTH answers 400 instead of exhausting recursion.
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["crm.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env_str("API_THROTTLE_RATE", "1200/min")},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# A POST's Idempotency-Key is remembered (per caller) for this many hours; at least a day.
IDEMPOTENCY_KEY_HOURS = env_int("IDEMPOTENCY_KEY_HOURS", 24, minimum=24)
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
    # One name for a choice set several fields use (the effective stage and the stage set by hand).
    "ENUM_NAME_OVERRIDES": {"LifecycleStageEnum": "crm.models.LifecycleStage"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # Every operation's error answers (one Error shape), Idempotency-Key, Location, RateLimit.
        "core.openapi.document_conventions",
    ],
}

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Logs go to stderr: one JSON object per line (LOG_FORMAT=json, the default when DEBUG is false)
# or plain text (the default in development). Each line carries the request id (X-Request-ID).
LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if DEBUG else "json", {"json", "plain"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {"()": "core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Error reporting (optional) ----------------------------------------------------------------
SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    from core.sentry import sentry_init

    sentry_init(
        SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production"),
        release=env_str("SENTRY_RELEASE"),
    )
