"""The login page, throttled against password guessing: after LOGIN_MAX_FAILURES failed
attempts for one username or from one address within LOGIN_LOCKOUT_MINUTES, further attempts
answer 429 until the window passes. A successful login clears the username's count."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpResponse
from django.template.loader import render_to_string


def _keys(request) -> list[str]:
    username = (request.POST.get("username") or "").strip().lower()[:150]
    address = request.META.get("REMOTE_ADDR", "")
    return [f"login-fail:user:{username}", f"login-fail:addr:{address}"]


class ThrottledLoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        keys = _keys(request)
        if any((cache.get(key) or 0) >= settings.LOGIN_MAX_FAILURES for key in keys):
            minutes = settings.LOGIN_LOCKOUT_MINUTES
            body = render_to_string(
                "registration/login_throttled.html", {"minutes": minutes}, request=request
            )
            response = HttpResponse(body, status=429)
            response["Retry-After"] = str(minutes * 60)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        timeout = settings.LOGIN_LOCKOUT_MINUTES * 60
        for key in _keys(self.request):
            cache.add(key, 0, timeout)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout)
        return super().form_invalid(form)

    def form_valid(self, form):
        cache.delete(_keys(self.request)[0])
        return super().form_valid(form)
