from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired


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
