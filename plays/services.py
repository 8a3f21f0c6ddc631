"""Writes of plays: creating and editing definitions, and moving them through their lifecycle.

draft -> active <-> paused; any -> retired (final). A retired play keeps its enrollment log
for measurement and can no longer be edited or run."""

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from plays.models import Play, PlayStatus, PlayVersion

EDITABLE_FIELDS = (
    "name",
    "moment",
    "trigger",
    "audience",
    "template",
    "next_step",
    "steps",
    "exit_on",
    "cooldown_days",
    "holdout_percent",
    "primary_outcome",
    "owner",
    "link_url",
)
TRANSITIONS = {
    PlayStatus.ACTIVE: {PlayStatus.DRAFT, PlayStatus.PAUSED, PlayStatus.ACTIVE},
    PlayStatus.PAUSED: {PlayStatus.ACTIVE, PlayStatus.PAUSED},
    PlayStatus.RETIRED: {PlayStatus.DRAFT, PlayStatus.ACTIVE, PlayStatus.PAUSED, PlayStatus.RETIRED},
    PlayStatus.DRAFT: {PlayStatus.DRAFT},
}


class PlayStateError(DomainError):
    """A status change or edit the play's current status does not allow (the API: 409)."""

    code = "play_state"
    status = 409


@transaction.atomic
def play_create(*, status: str = PlayStatus.DRAFT, **fields) -> Play:
    """Create a validated play, as a draft unless asked to start active."""
    play = Play(**fields)
    play.full_clean()
    play.save()
    version_record(play)
    if status != PlayStatus.DRAFT:
        play_set_status(play=play, status=status)
    return play


@transaction.atomic
def play_update(*, play: Play, status: str | None = None, **fields) -> Play:
    """Edit a play's definition (not a retired one) and optionally its status."""
    play = Play.objects.select_for_update().get(pk=play.pk)
    if play.status == PlayStatus.RETIRED and (fields or status not in (None, PlayStatus.RETIRED)):
        raise PlayStateError("A retired play cannot be changed; create a new play instead.")
    content_before = (play.steps, play.template)
    for name, value in fields.items():
        if name not in EDITABLE_FIELDS:
            raise ValueError(f"{name} is not an editable field of a play")
        setattr(play, name, value)
    if play.activated_at is not None and (play.steps, play.template) != content_before:
        # What a contact gets changed after the play went live: enrollments from now on carry the
        # new version, so lift can be split by version; those in flight keep the old one's steps.
        PlayVersion.objects.get_or_create(
            play=play,
            version=play.version,
            defaults={"steps": content_before[0] or [], "template": content_before[1] or ""},
        )
        play.version += 1
    play.full_clean()
    play.save()
    version_record(play)
    if status is not None and status != play.status:
        play = play_set_status(play=play, status=status)
    return play


@transaction.atomic
def version_record(play: Play) -> PlayVersion:
    """Keep the play's current version's steps and template (the version's own, until the
    next edit of a live play starts another)."""
    version, _ = PlayVersion.objects.update_or_create(
        play=play, version=play.version, defaults={"steps": play.steps or [], "template": play.template}
    )
    return version


@transaction.atomic
def play_set_status(*, play: Play, status: str) -> Play:
    """Move a play to ``status`` if its current status allows it (see the module docstring)."""
    locked = Play.objects.select_for_update().get(pk=play.pk)
    if locked.status not in TRANSITIONS.get(status, set()):
        raise PlayStateError(
            f"A {locked.status} play cannot become {status}."
            + (" Retired is final." if locked.status == PlayStatus.RETIRED else "")
        )
    if locked.status != status:
        locked.status = status
        fields = ["status", "updated_at"]
        if status == PlayStatus.ACTIVE:
            locked.activated_at = timezone.now()
            fields.append("activated_at")
        locked.save(update_fields=fields)
    return locked


def play_activate(*, play: Play) -> Play:
    return play_set_status(play=play, status=PlayStatus.ACTIVE)


def play_pause(*, play: Play) -> Play:
    return play_set_status(play=play, status=PlayStatus.PAUSED)


def play_retire(*, play: Play) -> Play:
    return play_set_status(play=play, status=PlayStatus.RETIRED)


class VariantError(DomainError):
    """A promote that names no send step or variant of the play (the API: 400)."""

    code = "variant"
    status = 400


def play_variant_promote(*, play: Play, step: int, variant: str) -> Play:
    """ "Promote this variant": its weight becomes 100 and every other variant of the send step
    0, so every contact entering from now on gets it (a new version once the play has run)."""
    steps = [dict(item) for item in (play.steps or [])]
    if not isinstance(step, int) or not 0 <= step < len(steps) or steps[step].get("type") != "send":
        raise VariantError(f"Step {step} is not a send step of this journey.")
    names = [item["name"] for item in steps[step]["variants"]]
    if variant not in names:
        raise VariantError(f"Step {step} has no variant {variant!r}; it has {', '.join(names)}.")
    steps[step]["variants"] = [
        {**item, "weight": 100 if item["name"] == variant else 0} for item in steps[step]["variants"]
    ]
    return play_update(play=play, steps=steps)
