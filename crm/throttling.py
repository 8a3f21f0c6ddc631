"""API rate limits: each API token (or, for the browser, each signed-in user) gets its own
budget, so one runaway integration cannot starve the others. Over it: 429 with Retry-After."""

from rest_framework.throttling import SimpleRateThrottle

from core.ratelimit import WindowCount, window_hit
from crm.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"
    counted: WindowCount | None = None

    def allow_request(self, request, view):
        # Counted with an atomic cache counter (core.ratelimit), not DRF's read-modify-write of
        # a history list, which concurrent requests all read before any writes.
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.counted = window_hit(self.key, limit=self.num_requests, period=self.duration)
        return self.counted.allowed

    def wait(self):
        return self.counted.reset_in if self.counted else None

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"anon-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
