"""The journey editor: a play's ordered steps (add, move up or down, remove) and its exits. Each
change is a POST that saves through ``services.play_update`` (the same validation as the API);
with htmx the steps panel is swapped in place, without it the page reloads."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crm.roles import manager_required
from plays import services
from plays.journey_forms import ExitsForm, StepForm
from plays.models import Play, PlayStatus
from plays.steps import describe_step, steps_renumbered


def _panel(request: HttpRequest, play: Play, *, step_form=None, exits_form=None, errors=()) -> HttpResponse:
    context = {
        "play": play,
        "steps": [(index, step, describe_step(step)) for index, step in enumerate(play.steps or [])],
        "step_form": step_form or StepForm(initial={"type": "send"}),
        "exits_form": exits_form or ExitsForm.for_play(play.exit_on or []),
        "errors": errors,
    }
    template = "plays/partials/journey_steps.html" if request.htmx else "plays/journey_editor.html"
    return render(request, template, context)


def _editable(pk: int) -> Play:
    return get_object_or_404(Play, pk=pk)


def _save(request: HttpRequest, play: Play, **fields) -> tuple[Play, list[str]]:
    if play.status == PlayStatus.RETIRED:
        return play, ["A retired play cannot be changed; create a new play instead."]
    try:
        return services.play_update(play=play, **fields), []
    except ValidationError as error:
        return play, [
            f"{name}: {message}" if name != "__all__" else message
            for name, msgs in _by_field(error)
            for message in msgs
        ]


def _by_field(error: ValidationError):
    if hasattr(error, "error_dict"):
        return [(name, [m for e in errors for m in e.messages]) for name, errors in error.error_dict.items()]
    return [("__all__", error.messages)]


def _done(request: HttpRequest, play: Play, errors: list[str], **forms) -> HttpResponse:
    if request.htmx or errors:
        return _panel(request, play, errors=errors, **forms)
    messages.success(request, "Journey saved.")
    return redirect("play_journey", play.pk)


@manager_required
def journey_editor(request: HttpRequest, pk: int) -> HttpResponse:
    return _panel(request, _editable(pk))


@manager_required
@require_POST
def journey_step_add(request: HttpRequest, pk: int) -> HttpResponse:
    play = _editable(pk)
    form = StepForm(request.POST)
    if not form.is_valid():
        return _panel(request, play, step_form=form, errors=["Check the step's fields."])
    play, errors = _save(request, play, steps=[*(play.steps or []), form.step()])
    return _done(request, play, errors, step_form=form if errors else None)


@manager_required
@require_POST
def journey_step_move(request: HttpRequest, pk: int, index: int, direction: str) -> HttpResponse:
    play = _editable(pk)
    order = list(range(len(play.steps or [])))
    other = index - 1 if direction == "up" else index + 1
    if not (0 <= index < len(order) and 0 <= other < len(order)):
        return _panel(request, play, errors=[f"Step {index} cannot move {direction}."])
    order[index], order[other] = order[other], order[index]
    play, errors = _save(request, play, steps=steps_renumbered(play.steps, order))
    return _done(request, play, errors)


@manager_required
@require_POST
def journey_step_remove(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    play = _editable(pk)
    order = [old for old in range(len(play.steps or [])) if old != index]
    try:
        steps = steps_renumbered(play.steps, order)
    except ValidationError as error:
        return _panel(request, play, errors=error.messages)
    play, errors = _save(request, play, steps=steps)
    return _done(request, play, errors)


@manager_required
@require_POST
def journey_exits(request: HttpRequest, pk: int) -> HttpResponse:
    play = _editable(pk)
    form = ExitsForm(request.POST)
    if not form.is_valid():
        return _panel(request, play, exits_form=form, errors=["Check the exits."])
    play, errors = _save(request, play, exit_on=form.exit_on())
    return _done(request, play, errors, exits_form=form if errors else None)


@manager_required
@require_POST
def journey_variant_promote(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Promote this variant" from the play page: weight 100 for it, 0 for the others."""
    play = _editable(pk)
    try:
        step = int(request.POST.get("step", ""))
    except ValueError:
        step = -1
    variant = request.POST.get("variant", "")
    try:
        services.play_variant_promote(play=play, step=step, variant=variant)
    except (services.VariantError, services.PlayStateError, ValidationError) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(request, f"Variant {variant} now goes to everyone who enters.")
    return redirect("play_detail", play.pk)


@manager_required
@require_POST
def journey_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """A dry run of the saved journey now: who would enter, and the first step's counts and texts
    when it is a send (governance as of now). Writes nothing."""
    from plays.engine import play_run
    from plays.views import preview_context

    play = _editable(pk)
    preview = preview_context(play_run(play, dry_run=True))
    return render(request, "plays/partials/preview.html", {"preview": preview, "form": None})
