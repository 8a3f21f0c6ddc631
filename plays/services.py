"""Writes of plays: creating and editing definitions, and moving them through their lifecycle.

draft -> active <-> paused; any -> retired (final). A retired play keeps its enrollment log
for measurement and can no longer be edited or run."""

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from plays.models import Play, PlayStatus

EDITABLE_FIELDS = (
    "name",
    "moment",
    "trigger",
    "audience",
    "template",
    "next_step",
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
    if status != PlayStatus.DRAFT:
        play_set_status(play=play, status=status)
    return play


@transaction.atomic
def play_update(*, play: Play, status: str | None = None, **fields) -> Play:
    """Edit a play's definition (not a retired one) and optionally its status."""
    play = Play.objects.select_for_update().get(pk=play.pk)
    if play.status == PlayStatus.RETIRED and (fields or status not in (None, PlayStatus.RETIRED)):
        raise PlayStateError("A retired play cannot be changed; create a new play instead.")
    for name, value in fields.items():
        if name not in EDITABLE_FIELDS:
            raise ValueError(f"{name} is not an editable field of a play")
        setattr(play, name, value)
    play.full_clean()
    play.save()
    if status is not None and status != play.status:
        play = play_set_status(play=play, status=status)
    return play


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
