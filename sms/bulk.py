"""The contact list's bulk action "Record an opt-out" (settings.CONTACT_BULK_ACTIONS): crm's
list hands the selected ids here, because the consent ledger is sms's. There is no bulk opt-in:
each opt-in needs that person's own proof."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from crm.models import Contact, SmsConsent
from crm.services import bulk_ids
from sms.services.consent import consents_opt_out_bulk

BULK_ACTION = "contact list bulk action: record an opt-out"


class BulkOptOutForm(forms.Form):
    note = forms.CharField(
        max_length=500,
        label="How they asked",
        help_text="Kept as the proof with your name, e.g. “Asked on the renewal call, 3 Dec”.",
    )


def contacts_opt_out(request: HttpRequest, *, ids: list[int], back: str) -> HttpResponse:
    """First a page saying what will happen (and asking how they asked); its confirmed form
    records the opt-outs in one call. Every signed-in user may: an opt-out is always honoured."""
    try:
        ids = bulk_ids(ids)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    confirmed = bool(request.POST.get("confirm"))
    form = BulkOptOutForm(request.POST if confirmed else None)
    if confirmed and form.is_valid():
        user = request.user
        proof = {
            "note": form.cleaned_data["note"],
            "recorded_by": {"id": user.pk, "username": user.get_username(), "name": user.get_full_name()},
            "bulk_action": BULK_ACTION,
        }
        result = consents_opt_out_bulk(contact_ids=ids, proof=proof, actor=user)
        note = f" {result.already} already opted out." if result.already else ""
        messages.success(
            request,
            f"Opt-out recorded for {result.recorded} contact{'s' if result.recorded != 1 else ''}.{note}",
        )
        return redirect(back)
    selected = Contact.objects.filter(pk__in=ids)
    return render(
        request,
        "sms/bulk_opt_out_confirm.html",
        {
            "ids": ids,
            "count": len(ids),
            "already": selected.filter(sms_consent=SmsConsent.OPTED_OUT).count(),
            "sample": selected.order_by("last_name", "first_name", "id")[:20],
            "form": form,
            "next": back,
        },
        status=400 if confirmed else 200,
    )
