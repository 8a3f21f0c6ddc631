"""HTML pages of plays: the list with their numbers, the editor with a live dry-run preview,
and the detail page with status actions, "Run now" and the enrollment log."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.errors import DomainError, html_domain_errors
from crm.models import Contact
from crm.roles import manager_required
from crm.views.common import form_data, paginate
from plays import selectors, services
from plays.engine import play_run
from plays.forms import EnrollmentFilterForm, PlayFilterForm, PlayForm
from plays.models import Arm, Outcome, Play, PlayStatus
from plays.triggers import describe_trigger
from sms.segments import MAX_BODY_CHARS

PLAYS_PER_PAGE = 50
# A new play has no id yet; its preview stands in with one no enrollment or text can have.
UNSAVED_PLAY_ID = 0
HOLDOUT_REASON = "holdout"  # the control arm's reason in the engine


def play_list(request: HttpRequest) -> HttpResponse:
    filters = PlayFilterForm(request.GET)
    filters.is_valid()  # invalid values are ignored
    criteria = filters.cleaned_data
    plays = selectors.play_list(status=criteria.get("status") or "", moment=criteria.get("moment") or "")
    page = paginate(request, plays, PLAYS_PER_PAGE)
    selectors.attach_numbers(page.object_list)
    for play in page.object_list:
        play.trigger_summary = describe_trigger(play.trigger)
    return render(
        request,
        "plays/play_list.html",
        {"filters": filters, "page_obj": page, "attribution_days": selectors.ATTRIBUTION_WINDOW.days},
    )


def _editor(request: HttpRequest, form: PlayForm, play: Play | None) -> HttpResponse:
    return render(request, "plays/play_form.html", {"form": form, "play": play, "max_chars": MAX_BODY_CHARS})


def _save(form: PlayForm, write, **kwargs) -> Play | None:
    definition = form.definition()
    if write is services.play_update:
        definition = {name: value for name, value in definition.items() if name in services.EDITABLE_FIELDS}
    try:
        return write(**kwargs, **definition)
    except ValidationError as exc:
        form.add_service_error(exc)
    return None


def _only_editable_changes(form: PlayForm, play: Play) -> bool:
    """The service edits only EDITABLE_FIELDS: say so on a field it would silently keep."""
    for name, value in form.definition().items():
        if name not in services.EDITABLE_FIELDS and value != getattr(play, name):
            field = name if name in form.fields else None
            form.add_error(field, "This cannot be changed on an existing play yet.")
    return form.is_valid()


@manager_required
def play_create(request: HttpRequest) -> HttpResponse:
    form = PlayForm(form_data(request))
    if request.method == "POST" and form.is_valid():
        play = _save(form, services.play_create, owner=request.user)
        if play is not None:
            messages.success(request, f"Play “{play.name}” created as a draft.")
            return redirect("play_detail", play.pk)
    return _editor(request, form, None)


@manager_required
def play_edit(request: HttpRequest, pk: int) -> HttpResponse:
    play = get_object_or_404(Play, pk=pk)
    if play.status == PlayStatus.RETIRED:
        messages.error(request, "A retired play cannot be changed; create a new play instead.")
        return redirect("play_detail", play.pk)
    form = PlayForm(form_data(request), instance=play)
    if request.method == "POST" and form.is_valid() and _only_editable_changes(form, play):
        try:
            saved = _save(form, services.play_update, play=play)
        except services.PlayStateError as exc:
            messages.error(request, str(exc))
            return redirect("play_detail", play.pk)
        if saved is not None:
            messages.success(request, f"Play “{saved.name}” saved.")
            return redirect("play_detail", saved.pk)
    return _editor(request, form, play)


@require_POST
def play_preview_form(request: HttpRequest) -> HttpResponse:
    """Dry-run the definition in the editor, saved or not, and show what a run would do.
    Writes nothing. ``?play=<id>`` previews the edit of that play (its log and cooldowns)."""
    play_id = request.GET.get("play", "")
    existing = get_object_or_404(Play, pk=play_id) if play_id.isdigit() else None
    form = PlayForm(request.POST, instance=existing)
    if not form.is_valid():
        return render(request, "plays/partials/preview.html", {"form": form})
    draft = Play(pk=existing.pk if existing else UNSAVED_PLAY_ID, **form.definition())
    preview = preview_context(play_run(draft, dry_run=True))
    return render(request, "plays/partials/preview.html", {"form": form, "preview": preview})


def preview_context(result) -> dict:
    """What ``plays/partials/preview.html`` shows of a dry run (a play's, or a journey's first step)."""
    contacts = Contact.objects.select_related("account").in_bulk([s["contact"] for s in result.samples])
    control = result.arms[Arm.CONTROL]
    return {
        "candidates": result.candidates,
        "already_decided": result.already_decided,
        "decided": result.decided,
        "sent": result.outcomes[Outcome.SENT],
        "deferred": result.outcomes[Outcome.DEFERRED],
        "suppressed": result.outcomes[Outcome.SUPPRESSED] - control,
        "control": control,
        "failed": result.outcomes[Outcome.FAILED],
        "reasons": [(reason, n) for reason, n in result.reasons.most_common() if reason != HOLDOUT_REASON],
        "samples": [{**sample, "contact": contacts.get(sample["contact"])} for sample in result.samples],
    }


def play_detail(request: HttpRequest, pk: int) -> HttpResponse:
    play = selectors.play_with_numbers(pk)
    if play is None:
        raise Http404("No such play.")
    filters = EnrollmentFilterForm(request.GET)
    filters.is_valid()
    criteria = filters.cleaned_data
    log = selectors.enrollment_log(play, arm=criteria.get("arm") or "", outcome=criteria.get("outcome") or "")
    page = paginate(request, log)
    if play.is_journey:
        selectors.attach_paths(page.object_list)
    return render(
        request,
        "plays/play_detail.html",
        {
            "play": play,
            "numbers": play.numbers,
            "trigger_summary": describe_trigger(play.trigger),
            "audience_rows": selectors.describe_audience(play.audience),
            "filters": filters,
            "page_obj": page,
            "attribution_days": selectors.ATTRIBUTION_WINDOW.days,
            "funnel": (
                selectors.journey_funnel(play, _version_asked(request, play)) if play.is_journey else None
            ),
        },
    )


def _version_asked(request: HttpRequest, play: Play) -> int:
    """``?version=N`` for the journey's funnel: one of the play's versions, else the current."""
    asked = request.GET.get("version", "")
    if asked.isdigit() and 1 <= int(asked) <= play.version:
        return int(asked)
    return play.version


def _transition(request: HttpRequest, pk: int, change, done: str) -> HttpResponse:
    play = get_object_or_404(Play, pk=pk)
    try:
        play = change(play=play)
    except services.PlayStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Play “{play.name}” {done}.")
    return redirect("play_detail", pk)


@require_POST
@manager_required
def play_activate(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, services.play_activate, "is active")


@require_POST
@manager_required
def play_pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, services.play_pause, "is paused")


@require_POST
@manager_required
def play_retire(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(request, pk, services.play_retire, "is retired")


def _not_run(request: HttpRequest, refused: DomainError, pk: int) -> HttpResponse:
    messages.error(request, f"Not run: {refused.message}")
    return redirect("play_detail", pk)


@require_POST
@manager_required
@html_domain_errors(_not_run)
def play_run_now(request: HttpRequest, pk: int) -> HttpResponse:
    play = get_object_or_404(Play, pk=pk)
    result = play_run(play)
    outcomes = result.outcomes
    messages.success(
        request,
        f"Run finished: {result.decided} decided ({outcomes['sent']} sent, {outcomes['deferred']} deferred, "
        f"{outcomes['suppressed']} suppressed incl. {result.arms['control']} control, "
        f"{outcomes['failed']} failed); {result.already_decided} already decided earlier.",
    )
    return redirect("play_detail", pk)


def home_panel(request: HttpRequest) -> HttpResponse:
    """The home page's plays panel (settings.HOME_PAGE_PANELS): what the plays did this week."""
    week = selectors.plays_week(now=timezone.now())
    return render(request, "plays/partials/home_panel.html", {"week": week})
