"""The contact list's bulk action "Enroll in a play" (settings.CONTACT_BULK_ACTIONS): crm's list
hands the selected ids here, and the plays engine enrolls them with the holdout split,
governance and consent of a run. Plays are the program: managers and admins only."""

from collections import Counter

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from crm.roles import PROGRAM_CHANGE_DENIED, can_manage_program
from crm.services import bulk_ids
from plays.audience import GLOBAL_CONTROL
from plays.engine import PlayNotRunnable, RunResult, play_enroll_contacts
from plays.models import Arm, Outcome, Play, PlayStatus
from plays.templatetags.plays_ui import reason_label


class BulkEnrollForm(forms.Form):
    play = forms.ModelChoiceField(
        queryset=Play.objects.filter(status=PlayStatus.ACTIVE).order_by("name"),
        empty_label=None,
        error_messages={"invalid_choice": "Choose an active play."},
        help_text="Only active plays. The play's holdout, consent, caps and quiet hours apply as in a run.",
    )


# Reasons that are not refusals: the control groups, and texts deferred to later.
NOT_REFUSALS = {"holdout", GLOBAL_CONTROL, "quiet_hours"}


def enrollment_summary(result: RunResult) -> str:
    """How many entered, were held out (control groups) or were refused, and why."""
    held_out = result.arms.get(Arm.CONTROL, 0) + result.arms.get(Arm.GLOBAL_CONTROL, 0)
    entered = sum(result.outcomes.get(o, 0) for o in (Outcome.SENT, Outcome.DEFERRED, Outcome.ENTERED))
    refused = result.decided - entered - held_out
    parts = [f"{entered} entered", f"{held_out} held out (control group)", f"{refused} refused"]
    if result.already_decided:
        parts.append(f"{result.already_decided} already enrolled today")
    text = ", ".join(parts) + "."
    why = Counter(
        {reason_label(reason): n for reason, n in result.reasons.items() if reason not in NOT_REFUSALS}
    )
    if refused and why:
        text += " Refused: " + "; ".join(f"{label} ({n})" for label, n in why.most_common()) + "."
    return text


def contacts_enroll(request: HttpRequest, *, ids: list[int], back: str) -> HttpResponse:
    """First the choice of play; its confirmed form enrolls the selection in one engine call."""
    if not can_manage_program(request.user):
        raise PermissionDenied(PROGRAM_CHANGE_DENIED)
    try:
        ids = bulk_ids(ids)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    confirmed = bool(request.POST.get("confirm"))
    form = BulkEnrollForm(request.POST if confirmed else None)
    status = 200
    if confirmed and form.is_valid():
        play = form.cleaned_data["play"]
        try:
            result = play_enroll_contacts(play, contact_ids=ids)
        except PlayNotRunnable as exc:
            form.add_error("play", exc.reason)
            status = 409
        else:
            messages.success(request, f"{play}: {enrollment_summary(result)}")
            return redirect(back)
    elif confirmed:
        status = 400
    return render(
        request,
        "plays/bulk_enroll.html",
        {"ids": ids, "count": len(ids), "form": form, "next": back},
        status=status,
    )
