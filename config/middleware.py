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
