from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from crm.forms import ApiTokenForm
from crm.models import ApiToken


@never_cache
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's own API keys. A new key is shown in the response to the POST that created
    it and never again: only its hash is stored, and it is not put in the session."""
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    new_key, new_token = None, None
    if request.method == "POST" and form.is_valid():
        new_token, new_key = ApiToken.issue(user=request.user, name=form.cleaned_data["name"])
        form = ApiTokenForm()
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at", "-id")
    return render(
        request,
        "crm/api_tokens.html",
        {"form": form, "tokens": tokens, "new_key": new_key, "new_token": new_token},
    )


@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if token.revoked_at is None:
        token.revoke()
        messages.success(
            request, f"Revoked “{token.name}” ({token.prefix}…). Integrations using it stop working now."
        )
    return redirect("api_tokens")
