from auditlog.middleware import AuditlogMiddleware
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired
from django.utils.cache import patch_cache_control
from django.utils.functional import SimpleLazyObject


class LoginRequiredMiddleware(_DjangoLoginRequired):
    """Every HTML page needs a logged-in user; the REST API authenticates on its own.

    DRF resolves token auth inside the view, so /api/ is left to DRF, whose default
    permission is IsAuthenticated (401 for anonymous callers instead of a login redirect).
    Webhooks and public redirects opt out with ``@login_not_required``.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class TwoFactorMiddleware:
    """Two-factor sign-in holds whatever path signed the user in (crm.two_factor):

    - a session marked as needing a code that was not verified with one is signed out: the
      admin's login or any other path is no way around the code;
    - with REQUIRE_2FA_FOR_ADMINS, an admin without a device gets only the enrolment page (and
      logging out); the API answers such a session 403. API tokens are not sessions: untouched.
    """

    EXEMPT_NAMES = frozenset({"two_factor", "logout", "admin:logout"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.http import JsonResponse
        from django.shortcuts import redirect
        from django.urls import Resolver404, resolve

        from crm import two_factor

        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_verified():
            return self.get_response(request)
        if request.session.get(two_factor.CODE_REQUIRED_SESSION_KEY):
            logout(request)
            return self.get_response(request)  # now anonymous: the login page or a 401
        if two_factor.must_enrol(user):
            if two_factor.confirmed_device(user) is not None:  # enrolled in another session
                logout(request)
                return self.get_response(request)
            try:
                match = resolve(request.path_info)
                name = f"{match.namespace}:{match.url_name}" if match.namespace else match.url_name
            except Resolver404:
                name = None
            if name in self.EXEMPT_NAMES or request.path_info.startswith("/static/"):
                return self.get_response(request)
            if request.path_info.startswith("/api/"):
                return JsonResponse(
                    {"detail": "Admins must turn on two-factor sign-in first (/settings/me/two-factor/)."},
                    status=403,
                )
            return redirect("two_factor")
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """Sends the Content-Security-Policy: scripts, styles and everything else only from our own
    origin, no inline scripts or styles, no framing. Templates keep to it (no inline <script>,
    no style= attributes; charts are SVG with presentation attributes)."""

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self._policy_for(request)
        return response

    def _policy_for(self, request) -> str:
        """The policy, with the style sources a page asked for (``request.csp_style_sources``,
        nonces and hashes: the ReDoc page, whose styles are built at run time) added to
        ``style-src``. Never ``'unsafe-inline'``."""
        sources = [
            s for s in getattr(request, "csp_style_sources", ()) if s.startswith(("'nonce-", "'sha256-"))
        ]
        if not sources:
            return self.policy
        return self.policy.replace("style-src 'self'", "style-src 'self' " + " ".join(sources), 1)


class NoStoreWhenAuthenticatedMiddleware:
    """``Cache-Control: no-store, private`` on every answer to a signed-in user or an API token:
    a shared or browser cache must never keep a page or an API answer with customer data."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)  # DRF's token auth sets it on the request too
        if (user is not None and user.is_authenticated) or "HTTP_AUTHORIZATION" in request.META:
            patch_cache_control(response, no_store=True, private=True)
        return response


class ChangeHistoryMiddleware(AuditlogMiddleware):
    """Change history records who made each change. The user is looked up when a change is
    logged, not when the request starts: API callers are authenticated by DRF inside the view,
    after every middleware has run."""

    @staticmethod
    def _get_actor(request):
        return SimpleLazyObject(lambda: getattr(request, "user", None))


class UserTimezoneMiddleware:
    """One clock: every page shows times in the signed-in user's zone (their own, else the
    team's TIME_ZONE); templates print it with ``|when``, which names the zone. The API keeps
    UTC (integrations read ISO instants, and token callers are known only inside DRF)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.utils import timezone

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path_info.startswith("/api/"):
            timezone.activate(user.zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
