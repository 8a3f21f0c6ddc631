"""Read queries behind the plays pages. Each costs a fixed number of queries, whatever the
number of plays or enrollments shown."""

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from crm import custom_fields
from crm.models import ClvTier, HealthBand, LifecycleStage
from plays.audience import FIELD_CONDITION_KEYS
from plays.models import Arm, Enrollment, Outcome, Play
from sms.governance import play_source
from sms.models import ConsentAction, ConsentEvent, Direction, Message

# A reply or an opt-out counts for a play when it comes this soon after the play's text.
ATTRIBUTION_WINDOW = timedelta(days=7)
TOP_REASONS = 3


@dataclass
class PlayNumbers:
    """What a play's enrollment log and texts add up to."""

    decided: int = 0
    sent: int = 0
    deferred: int = 0
    suppressed: int = 0  # treatment arm, stopped by governance
    control: int = 0  # the holdout arm: logged, never texted
    failed: int = 0
    replies: int = 0  # contacts who texted back after the play's text
    opt_outs: int = 0  # contacts who opted out after the play's text
    reasons: Counter = field(default_factory=Counter)  # (outcome, reason) of the treatment arm

    @property
    def suppression_reasons(self) -> list[tuple[str, int]]:
        counts = Counter(
            {reason: n for (outcome, reason), n in self.reasons.items() if outcome == "suppressed"}
        )
        return counts.most_common()

    @property
    def top_reasons(self) -> list[tuple[str, int]]:
        return self.suppression_reasons[:TOP_REASONS]

    @property
    def other_reasons(self) -> list[tuple[str, str, int]]:
        """Reasons for the deferred and failed outcomes."""
        return sorted(
            (
                (outcome, reason, n)
                for (outcome, reason), n in self.reasons.items()
                if outcome != "suppressed"
            ),
            key=lambda row: (-row[2], row[0], row[1]),
        )


def _enrollment_counts() -> dict:
    treatment = Q(enrollments__arm=Arm.TREATMENT)
    return {
        "n_decided": Count("enrollments"),
        "n_sent": Count("enrollments", filter=treatment & Q(enrollments__outcome=Outcome.SENT)),
        "n_deferred": Count("enrollments", filter=treatment & Q(enrollments__outcome=Outcome.DEFERRED)),
        "n_suppressed": Count("enrollments", filter=treatment & Q(enrollments__outcome=Outcome.SUPPRESSED)),
        "n_failed": Count("enrollments", filter=treatment & Q(enrollments__outcome=Outcome.FAILED)),
        "n_control": Count("enrollments", filter=Q(enrollments__arm=Arm.CONTROL)),
    }


def play_list(*, status: str = "", moment: str = "") -> QuerySet[Play]:
    """Plays with their enrollment counts (``n_decided``, ``n_sent`` ...) in one query; pass a
    page of them to ``attach_numbers`` for the rest."""
    plays = Play.objects.select_related("owner").annotate(**_enrollment_counts())
    if status:
        plays = plays.filter(status=status)
    if moment:
        plays = plays.filter(moment=moment)
    return plays.order_by("name", "id")


def attach_numbers(plays: Sequence[Play]) -> None:
    """Set ``play.numbers`` on plays from ``play_list``: two queries for any number of plays
    (suppression reasons, and replies/opt-outs after the plays' texts)."""
    ids = [play.pk for play in plays]
    reasons: dict[int, Counter] = defaultdict(Counter)
    if ids:
        rows = (
            Enrollment.objects.filter(play_id__in=ids, arm=Arm.TREATMENT)
            .exclude(reason="")
            .values_list("play_id", "outcome", "reason")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for play_id, outcome, reason, n in rows:
            reasons[play_id][(outcome, reason)] = n
    responses = responses_by_play(ids)
    for play in plays:
        replies, opt_outs = responses.get(play.pk, (0, 0))
        play.numbers = PlayNumbers(
            decided=play.n_decided,
            sent=play.n_sent,
            deferred=play.n_deferred,
            suppressed=play.n_suppressed,
            control=play.n_control,
            failed=play.n_failed,
            replies=replies,
            opt_outs=opt_outs,
            reasons=reasons[play.pk],
        )


def responses_by_play(
    play_ids: Iterable[int], *, sent_since: datetime | None = None
) -> dict[int, tuple[int, int]]:
    """{play id: (contacts who replied, contacts who opted out)} within ATTRIBUTION_WINDOW of
    one of the play's texts (sent since ``sent_since`` when given). One query."""
    by_source = {play_source(play_id): play_id for play_id in play_ids}
    if not by_source:
        return {}
    replied = Message.objects.filter(
        contact_id=OuterRef("contact_id"),
        direction=Direction.INBOUND,
        created_at__gt=OuterRef("created_at"),
        created_at__lte=OuterRef("created_at") + ATTRIBUTION_WINDOW,
    )
    opted_out = ConsentEvent.objects.filter(
        contact_id=OuterRef("contact_id"),
        action=ConsentAction.OPT_OUT,
        occurred_at__gt=OuterRef("created_at"),
        occurred_at__lte=OuterRef("created_at") + ATTRIBUTION_WINDOW,
    )
    texts = Message.objects.filter(
        source__in=list(by_source), direction=Direction.OUTBOUND, contact__isnull=False
    )
    if sent_since is not None:
        texts = texts.filter(created_at__gte=sent_since)
    rows = (
        texts.values("source")
        .annotate(
            replies=Count("contact_id", distinct=True, filter=Q(Exists(replied))),
            opt_outs=Count("contact_id", distinct=True, filter=Q(Exists(opted_out))),
        )
        .order_by()
    )
    return {by_source[row["source"]]: (row["replies"], row["opt_outs"]) for row in rows}


def play_with_numbers(pk: int) -> Play | None:
    play = play_list().filter(pk=pk).first()
    if play is not None:
        attach_numbers([play])
    return play


def enrollment_log(play: Play, *, arm: str = "", outcome: str = "") -> QuerySet[Enrollment]:
    log = Enrollment.objects.filter(play=play).select_related("contact", "account", "message")
    if arm:
        log = log.filter(arm=arm)
    if outcome:
        log = log.filter(outcome=outcome)
    return log.order_by("-decided_at", "-id")


# --- Journeys -----------------------------------------------------------------------------------


def journey_funnel(play: Play, version: int | None = None) -> dict:
    """Each step's numbers (waiting there now, texts by outcome, tasks, branch ways, exits
    there by reason), the journey's ends (completed, exited by reason) and entries, for the
    enrollments of one version of the journey (default: the current one) on that version's
    steps; and every version's counts (``versions``). Four queries."""
    from plays.models import EnrollmentState, PlayVersion, StepDecision
    from plays.steps import describe_step

    version = play.version if version is None else version
    kept = PlayVersion.objects.filter(play=play, version=version).first()
    steps = kept.journey_steps if kept is not None and version != play.version else play.journey_steps
    rows = [
        {
            "index": index,
            "label": describe_step(step),
            "type": step["type"],
            "waiting": 0,
            "held": 0,
            "decisions": Counter(),
            "exits": Counter(),
            "variants": Counter(),
        }
        for index, step in enumerate(steps)
    ]
    ends = {"entered": 0, "control": 0, "in_flight": 0, "completed": 0, "exited": Counter()}
    for arm, state, step, exit_reason, n in (
        Enrollment.objects.filter(play=play, version=version)
        .values_list("arm", "state", "step", "exit_reason")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        if arm == Arm.CONTROL:
            ends["control"] += n
            continue
        ends["entered"] += n
        row = rows[step] if step < len(rows) else None
        if state == EnrollmentState.WAITING and row:
            row["waiting"] += n
        elif state == EnrollmentState.ACTIVE and row:
            row["held"] += n
        if state in (EnrollmentState.WAITING, EnrollmentState.ACTIVE):
            ends["in_flight"] += n
        elif state == EnrollmentState.COMPLETED:
            ends["completed"] += n
        else:
            ends["exited"][exit_reason] += n
            if row:
                row["exits"][exit_reason] += n
    for step, outcome, variant, n in (
        StepDecision.objects.filter(play=play, enrollment__version=version)
        .values_list("step", "outcome", "variant")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        if step < len(rows):
            rows[step]["decisions"][outcome] += n
            if variant and outcome in (Outcome.SENT, Outcome.DEFERRED):
                rows[step]["variants"][variant] += n
    ends["goal_reached"] = sum(n for reason, n in ends["exited"].items() if is_goal(reason))
    ends["exited"] = dict(ends["exited"].most_common())
    for row in rows:
        row["decisions"] = dict(row["decisions"])
        row["exits"] = dict(row["exits"].most_common())
        row["variants"] = dict(sorted(row["variants"].items()))
    return {"steps": rows, **ends, "version": version, "versions": version_counts(play)}


VERSION_COUNTS = ("entered", "control", "in_flight", "completed", "exited")


def version_counts(play: Play) -> list[dict]:
    """Per version of the play, newest first: when it started (when kept), contacts entered
    (treatment and control), in flight, completed and exited. Two queries."""
    from plays.models import EnrollmentState, PlayVersion

    started = dict(PlayVersion.objects.filter(play=play).values_list("version", "created_at"))
    counts: dict[int, Counter] = defaultdict(Counter)
    for version, arm, state, n in (
        Enrollment.objects.filter(play=play)
        .values_list("version", "arm", "state")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        counts[version]["control" if arm == Arm.CONTROL else "entered"] += n
        if arm != Arm.CONTROL:
            in_flight = state in (EnrollmentState.ACTIVE, EnrollmentState.WAITING)
            counts[version]["in_flight" if in_flight else state] += n
    return [
        {
            "version": version,
            "started_at": started.get(version),
            "current": version == play.version,
            **{key: counts[version][key] for key in VERSION_COUNTS},
        }
        for version in sorted(set(counts) | {play.version}, reverse=True)
    ]


def attach_paths(enrollments: Sequence[Enrollment]) -> None:
    """Set ``enrollment.path``: the steps it took, in order, as (step, kind, outcome, variant).
    One query for a page of enrollments."""
    from plays.models import StepDecision

    paths: dict[int, list[tuple]] = defaultdict(list)
    for enrollment_id, step, kind, outcome, variant in (
        StepDecision.objects.filter(enrollment_id__in=[e.pk for e in enrollments])
        .order_by("enrollment_id", "move")
        .values_list("enrollment_id", "step", "kind", "outcome", "variant")
    ):
        paths[enrollment_id].append((step, kind, outcome, variant))
    for enrollment in enrollments:
        enrollment.path = paths.get(enrollment.pk, [])


# --- Describing a definition ----------------------------------------------------------------


def describe_audience(audience: dict) -> list[tuple[str, str]]:
    """(label, value) rows for the audience filters; empty means everyone."""
    audience = audience or {}
    rows = []
    stages = dict(LifecycleStage.choices)
    if audience.get("lifecycle_stages"):
        rows.append(("Lifecycle stages", ", ".join(stages.get(s, s) for s in audience["lifecycle_stages"])))
    if audience.get("plans"):
        rows.append(("Plans", ", ".join(audience["plans"])))
    if audience.get("owners"):
        users = get_user_model().objects.filter(pk__in=audience["owners"])
        rows.append(("Owners", ", ".join(sorted(u.get_full_name() or u.get_username() for u in users))))
    for key, value in (audience.get("account_attributes") or {}).items():
        rows.append(("Account attribute", f"{key} = {value}"))
    for key, label in (("contact_fields", "Contact field"), ("account_fields", "Account field")):
        if not audience.get(key):
            continue
        object_type = FIELD_CONDITION_KEYS[key][0]
        fields = custom_fields.by_key(object_type)
        for item in audience[key]:
            condition = custom_fields.Condition(item.get("field"), item.get("op"), item.get("value"))
            rows.append((label, custom_fields.describe(condition, fields.get(condition.key))))
    return rows + _describe_scores(audience)


def _describe_scores(audience: dict) -> list[tuple[str, str]]:
    rows = []
    for key, label, choices in (
        ("clv_tiers", "CLV tiers", ClvTier),
        ("health_bands", "Health bands", HealthBand),
    ):
        if audience.get(key):
            names = dict(choices.choices)
            rows.append(
                (label, ", ".join(names.get(v, v) for v in audience[key]) + " (scored contacts only)")
            )
    low, high = audience.get("p_alive_min"), audience.get("p_alive_max")
    if low is not None or high is not None:
        bounds = [
            f"at least {low:g}" if low is not None else "",
            f"at most {high:g}" if high is not None else "",
        ]
        rows.append(("P(alive)", " and ".join(b for b in bounds if b)))
    return rows


# --- The home page ------------------------------------------------------------------------

WEEK = timedelta(days=7)


@dataclass
class PlayWeek:
    play_id: int
    name: str
    sent: int = 0
    replies: int = 0
    opt_outs: int = 0
    goals: int = 0


@dataclass
class PlaysWeek:
    """What the plays did in the last seven days: texts sent (treatment arm), contacts who replied
    or opted out after one of those texts, and enrollments of the week that reached a goal."""

    since: datetime
    plays: list[PlayWeek]

    @property
    def sent(self) -> int:
        return sum(play.sent for play in self.plays)

    @property
    def replies(self) -> int:
        return sum(play.replies for play in self.plays)

    @property
    def opt_outs(self) -> int:
        return sum(play.opt_outs for play in self.plays)

    @property
    def goals(self) -> int:
        return sum(play.goals for play in self.plays)


GOAL_EXIT_PREFIXES = ("deal_opened", "event:")


def is_goal(exit_reason: str) -> bool:
    """A journey left because it reached what it was for: a deal opened or the product event it
    waited for (the home panel's goals and the journey page's "goal reached")."""
    return exit_reason.startswith(GOAL_EXIT_PREFIXES)


def plays_week(*, now: datetime) -> PlaysWeek:
    """Two queries, whatever the number of plays or enrollments. A goal is a journey left
    because it reached what it was for: a deal opened or the product event it waited for."""
    since = now - WEEK
    goal = Q(exit_reason=GOAL_EXIT_PREFIXES[0]) | Q(exit_reason__startswith=GOAL_EXIT_PREFIXES[1])
    rows = (
        Enrollment.objects.filter(decided_at__gte=since, decided_at__lte=now)
        .values("play_id", "play__name")
        .annotate(
            sent=Count("id", filter=Q(arm=Arm.TREATMENT, outcome=Outcome.SENT)),
            goals=Count("id", filter=goal),
        )
        .order_by("play__name", "play_id")
    )
    plays = [
        PlayWeek(play_id=row["play_id"], name=row["play__name"], sent=row["sent"], goals=row["goals"])
        for row in rows
    ]
    responses = responses_by_play([play.play_id for play in plays], sent_since=since)
    for play in plays:
        play.replies, play.opt_outs = responses.get(play.play_id, (0, 0))
    return PlaysWeek(since=since, plays=plays)
