"""Optional error reporting to Sentry (settings: ``SENTRY_DSN``). sentry-sdk is an optional
dependency (``pip install -e ".[sentry]"``), imported only when a DSN is set; events carry the
request id so a Sentry issue leads to the log lines of the same request."""

from django.core.exceptions import ImproperlyConfigured

from core.logs import current_request_id


def tag_request_id(event: dict, hint: dict) -> dict:
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def sentry_init(dsn: str, *, environment: str, release: str = "", traces_sample_rate: float = 0.0, **options):
    """Start the SDK with the Django integration (personal data is not sent: the SDK's default)."""
    try:
        import sentry_sdk
        from sentry_sdk.integrations.django import DjangoIntegration
    except ImportError:
        raise ImproperlyConfigured(
            "SENTRY_DSN is set but sentry-sdk is not installed: pip install -e '.[sentry]'"
        ) from None
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration()],
        traces_sample_rate=traces_sample_rate,
        before_send=tag_request_id,
        **options,
    )
