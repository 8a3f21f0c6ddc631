"""Plays: lifecycle moments turned into governed texts, and the exposure log of who got what."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from crm.models import Account, ClvTier, Contact, HealthBand, LifecycleStage
from plays.audience import validate_audience
from plays.steps import templates_of, validate_exit_on, validate_steps
from plays.templates import validate_template
from plays.triggers import event_driven_types, validate_trigger

MAX_HOLDOUT_PERCENT = 50


class Moment(models.TextChoices):
    ONBOARDING = "onboarding", "Onboarding"
    ADOPTION = "adoption", "Adoption"
    RENEWAL = "renewal", "Renewal"
    RISK = "risk", "Risk"
    EXPANSION = "expansion", "Expansion"
    REACTIVATION = "reactivation", "Reactivation"


class PlayOutcome(models.TextChoices):
    """What lift measures for a play within its window (``analytics.metrics.lift``)."""

    RENEWED = "renewed", "Renewed"
    EXPANDED = "expanded", "Expanded"
    CHURNED = "churned", "Churned (fewer is better)"
    MILESTONE = "milestone", "Reached the trigger's milestone"
    REORDERED = "reordered", "Reordered"
    REVENUE = "revenue", "Revenue per contact"


# The outcome each lifecycle moment is meant to move, for a play that names none of its own.
DEFAULT_PRIMARY_OUTCOME = {
    Moment.ONBOARDING: PlayOutcome.MILESTONE,
    Moment.ADOPTION: PlayOutcome.MILESTONE,
    Moment.RENEWAL: PlayOutcome.RENEWED,
    Moment.RISK: PlayOutcome.CHURNED,
    Moment.EXPANSION: PlayOutcome.EXPANDED,
    Moment.REACTIVATION: PlayOutcome.REORDERED,
}


class PlayStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    RETIRED = "retired", "Retired"


NEXT_STEP_KEYS = ("create_task", "task_title", "route_replies_to_owner")


def validate_next_step(next_step) -> None:
    """``{"create_task": bool, "task_title": str, "route_replies_to_owner": bool}``, all optional."""
    if not isinstance(next_step, dict):
        raise ValidationError("The next step is an object (use {} for none).")
    unknown = sorted(set(next_step) - set(NEXT_STEP_KEYS))
    if unknown:
        raise ValidationError(f"Unknown next step {', '.join(unknown)}. Use: {', '.join(NEXT_STEP_KEYS)}.")
    for key in ("create_task", "route_replies_to_owner"):
        if not isinstance(next_step.get(key, False), bool):
            raise ValidationError(f"`{key}` must be true or false.")
    title = next_step.get("task_title", "")
    if not isinstance(title, str) or len(title) > 200:
        raise ValidationError("`task_title` must be text of up to 200 characters.")
    if next_step.get("create_task") and not title.strip():
        raise ValidationError("`task_title` is needed when `create_task` is true.")


class Play(models.Model):
    name = models.CharField(max_length=200)
    moment = models.CharField(max_length=16, choices=Moment.choices)
    trigger = models.JSONField(
        validators=[validate_trigger],
        help_text='What starts it, e.g. {"type": "renewal_window", "days": 60}.',
    )
    audience = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_audience],
        help_text="Who may get it: lifecycle_stages, plans, owners, account_attributes. {} is everyone.",
    )
    template = models.TextField(
        validators=[validate_template],
        help_text="The text, with {first_name} {last_name} {account} {owner} {renewal_date} {renewal_acv}.",
    )
    link_url = models.URLField(
        max_length=2000,
        blank=True,
        help_text="Where {link} in the template goes; each text gets its own tracked short link.",
    )
    next_step = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_next_step],
        help_text="After a text: create_task + task_title (a task for the owner), route_replies_to_owner.",
    )
    steps = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_steps],
        help_text="A journey's ordered steps (send with variants, wait, task, branch); [] sends the "
        "template once (a one-step journey). See README, Journeys.",
    )
    exit_on = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_exit_on],
        help_text='What ends an enrollment at once: "reply", "opt_out", "deal_opened", "event:<name>".',
    )
    version = models.PositiveIntegerField(
        default=1,
        editable=False,
        help_text="Goes up when the steps or template of a play that has run are edited; each "
        "enrollment keeps the version it entered.",
    )
    cooldown_days = models.PositiveIntegerField(
        default=7,
        validators=[MaxValueValidator(365)],
        help_text="Days before this play texts a contact again.",
    )
    holdout_percent = models.PositiveSmallIntegerField(
        default=10,
        validators=[MaxValueValidator(MAX_HOLDOUT_PERCENT)],
        help_text="Share of contacts kept as a control group that never gets the text (0-50).",
    )
    primary_outcome = models.CharField(
        max_length=16,
        choices=PlayOutcome.choices,
        blank=True,
        help_text="The one outcome that decides whether the play works (its verdict); the others are "
        "secondary. Empty: the moment's usual outcome (milestone, renewed, churned, expanded, reordered).",
    )
    status = models.CharField(
        max_length=16, choices=PlayStatus.choices, default=PlayStatus.DRAFT, db_index=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="plays"
    )
    # A run claims the play by setting this only when it is empty (or stale), so runs of one
    # play never overlap, whichever worker starts them.
    running_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if "{link}" in (self.template or "") and not self.link_url:
            raise ValidationError({"link_url": "The template uses {link}: say where it should go."})
        if isinstance(self.steps, list) and not self.link_url:
            try:
                uses_link = any("{link}" in text for text in templates_of(self.steps))
            except (KeyError, TypeError, AttributeError):
                uses_link = False  # malformed steps: the field's own validator says why
            if uses_link:
                raise ValidationError({"link_url": "A step's template uses {link}: say where it should go."})

    @property
    def is_journey(self) -> bool:
        return bool(self.steps)

    @property
    def journey_steps(self) -> list[dict]:
        """The steps as the engine runs them: a play without steps is a one-step journey that
        sends its template."""
        if self.steps:
            return self.steps
        return [{"type": "send", "variants": [{"name": "A", "template": self.template, "weight": 1}]}]

    @property
    def trigger_type(self) -> str:
        return (self.trigger or {}).get("type", "")

    @property
    def primary(self) -> str:
        """The outcome that decides the play's verdict: its own choice, else its moment's."""
        return str(self.primary_outcome or DEFAULT_PRIMARY_OUTCOME.get(self.moment, PlayOutcome.RENEWED))

    @property
    def is_event_driven(self) -> bool:
        return self.trigger_type in event_driven_types()


class PlayVersion(models.Model):
    """What one version of a play sends: its steps and template as they stood while contacts
    entered it (``plays.services`` writes one per version). Enrollments continue on the version
    they entered: the advancer reads their version's steps here, so editing a live journey
    changes the path of new entrants only."""

    play = models.ForeignKey(Play, on_delete=models.CASCADE, related_name="versions", db_index=False)
    version = models.PositiveIntegerField()
    steps = models.JSONField(default=list, blank=True)
    template = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["play", "version"]
        constraints = [models.UniqueConstraint(fields=["play", "version"], name="plays_version_once")]

    def __str__(self) -> str:
        return f"{self.play_id} v{self.version}"

    @property
    def journey_steps(self) -> list[dict]:
        """The steps as the engine runs them (a version without steps sent its template once)."""
        if self.steps:
            return self.steps
        return [{"type": "send", "variants": [{"name": "A", "template": self.template, "weight": 1}]}]


class Arm(models.TextChoices):
    TREATMENT = "treatment", "Treatment"
    CONTROL = "control", "Control"
    # In the global control group (crm.global_control): recorded, never texted, not in the lift.
    GLOBAL_CONTROL = "global_control", "Global control"


class Outcome(models.TextChoices):
    SENT = "sent", "Sent"
    DEFERRED = "deferred", "Deferred"
    SUPPRESSED = "suppressed", "Suppressed"
    FAILED = "failed", "Failed"
    # A journey's treatment arm at entry: its steps decide each text (StepDecision).
    ENTERED = "entered", "Entered the journey"


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", "Active (due to take its next step)"
    WAITING = "waiting", "Waiting"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"


IN_FLIGHT = (EnrollmentState.ACTIVE, EnrollmentState.WAITING)


class Enrollment(models.Model):
    """One decision about one trigger occurrence for one contact: the exposure log that lift
    is measured on. Never decided twice (the unique key), never edited."""

    # Indexed as the first column of the unique key (and of both indexes below).
    play = models.ForeignKey(Play, on_delete=models.CASCADE, related_name="enrollments", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="enrollments")
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="enrollments"
    )
    occurrence = models.CharField(max_length=100, help_text="What fired, e.g. 'renewal:12:60'.")
    arm = models.CharField(max_length=16, choices=Arm.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=100, blank=True)
    message = models.ForeignKey(
        "sms.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="enrollments"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    # Which run wrote the row: a run links messages only to the rows it inserted itself.
    run_token = models.UUIDField(null=True, blank=True, editable=False)
    # The journey: where the enrollment is, and how it ended.
    step = models.PositiveSmallIntegerField(default=0, help_text="Index of the current or last step.")
    state = models.CharField(
        max_length=16, choices=EnrollmentState.choices, default=EnrollmentState.COMPLETED
    )
    exit_reason = models.CharField(
        max_length=100,
        blank=True,
        help_text="holdout, reply, opt_out, deal_opened, event:<name>, suppressed:<why>.",
    )
    variant = models.CharField(
        max_length=20,
        blank=True,
        help_text="The variant of the journey's first send step (per-variant results).",
    )
    version = models.PositiveIntegerField(default=1, help_text="The play's version when the contact entered.")
    next_at = models.DateTimeField(
        null=True, blank=True, help_text="When an active or waiting enrollment moves on."
    )
    # When the current wait began: branches look for replies, clicks and events since then.
    waited_since = models.DateTimeField(null=True, blank=True)
    # Steps taken so far; with the enrollment, the key that keeps a step from being decided twice.
    moves = models.PositiveIntegerField(default=0, editable=False)
    # The segments lift is split by, as they were when the contact entered (the candidate query
    # reads them): a play that moves contacts between segments must not move its own comparison.
    # Null: not recorded (decided before they were kept); "": recorded, no score (or no account).
    clv_tier_at_entry = models.CharField(
        max_length=8, choices=ClvTier.choices, null=True, blank=True, editable=False
    )
    health_band_at_entry = models.CharField(
        max_length=16, choices=HealthBand.choices, null=True, blank=True, editable=False
    )
    lifecycle_stage_at_entry = models.CharField(
        max_length=20, choices=LifecycleStage.choices, null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["play", "contact", "occurrence"], name="plays_enrollment_once_per_occurrence"
            ),
        ]
        indexes = [
            models.Index(fields=["play", "arm", "outcome"]),
            models.Index(fields=["play", "-decided_at"]),
            # A contact's enrollments in flight are found by the contact's index (a contact has
            # few); an index on (contact, state) cost every advance's UPDATE one more entry.
            # Only enrollments in flight, in the order they fall due: the advancer reads a batch
            # off its front, however many finished enrollments the play has (a full index on
            # the state led PostgreSQL to scan and sort the play's rows for every batch).
            models.Index(
                fields=["play", "next_at", "id"],
                condition=models.Q(state__in=["active", "waiting"]),
                name="plays_enrollment_due_next",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.play_id}/{self.contact_id} {self.occurrence}: {self.arm} {self.outcome}"


class StepKind(models.TextChoices):
    SEND = "send", "Send"
    TASK = "task", "Task"
    BRANCH = "branch", "Branch"


class StepDecision(models.Model):
    """What one step did for one enrollment: a text's governance outcome and reason (and its
    variant), a task and whom it went to, a branch's way. Written once per move (the unique
    key), so under racing advancers a step is sent at most once."""

    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.CASCADE, related_name="step_decisions", db_index=False
    )
    play = models.ForeignKey(Play, on_delete=models.CASCADE, related_name="step_decisions", db_index=False)
    move = models.PositiveIntegerField()
    step = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=8, choices=StepKind.choices)
    # send: sent | deferred | suppressed | failed; task: created | unassigned; branch: then | else.
    outcome = models.CharField(max_length=16)
    reason = models.CharField(max_length=100, blank=True)
    variant = models.CharField(max_length=20, blank=True)
    message = models.ForeignKey(
        "sms.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task = models.ForeignKey("crm.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["enrollment", "move"]
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "move"], name="plays_step_decided_once"),
        ]
        indexes = [models.Index(fields=["play", "step", "kind", "outcome"], name="plays_stepdecision_counts")]

    def __str__(self) -> str:
        return f"{self.enrollment_id}#{self.move} step {self.step} {self.kind}: {self.outcome}"
