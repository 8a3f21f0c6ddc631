"""API rate limits: each API token (or, for the browser, each signed-in user) gets its own
budget, so one runaway integration cannot starve the others. Over it: 429 with Retry-After."""

from rest_framework.throttling import SimpleRateThrottle

from crm.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"anon-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
