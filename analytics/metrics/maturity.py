"""The program maturity scorecard: for each dimension of the playbook's maturity matrix, a stage
from 1 to 3 computed from the data, the evidence behind it, and what would move it up."""

from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, Q

from analytics.metrics.common import rate, ratio
from analytics.scope import Scope
from crm.models import Renewal
from plays.models import Arm, Enrollment, Outcome, Play, PlayStatus
from sms.models import Direction, Message, MessageKind

RENEWAL_LOOKBACK_DAYS = 90


def _stage(value, second: float, third: float) -> int:
    if value is None:
        return 1
    return 3 if value >= third else 2 if value >= second else 1


def _dimension(name: str, stage: int, evidence: dict, moves: dict[int, str]) -> dict:
    return {"dimension": name, "stage": stage, "evidence": evidence, "next_step": moves.get(stage, "")}


def maturity(scope: Scope, *, health: dict) -> dict:
    texts = scope.segment(
        Message.objects.filter(
            direction=Direction.OUTBOUND, created_at__gte=scope.start_at, created_at__lt=scope.end_at
        ).exclude(kind=MessageKind.COMPLIANCE),
        prefix="contact__account__",
    )
    decided = Enrollment.objects.filter(message=OuterRef("pk"))
    sends = texts.aggregate(
        automated=Count("id", filter=Q(kind=MessageKind.AUTOMATED)),
        manual=Count("id", filter=Q(kind__in=(MessageKind.MANUAL, MessageKind.REPLY))),
        automated_with_decision=Count("id", filter=Q(kind=MessageKind.AUTOMATED) & Exists(decided)),
    )
    triggered = ratio(sends["automated"], sends["automated"] + sends["manual"])
    execution = _dimension(
        "execution",
        _stage(triggered, 0.25, 0.6),
        {
            "automated_texts": sends["automated"],
            "manual_texts": sends["manual"],
            "share_triggered": rate(triggered),
        },
        {
            1: "Turn recurring manual texts into plays triggered by lifecycle moments (over 25% of sends).",
            2: "Cover the remaining lifecycle moments with plays so most texts (60%+) are triggered.",
        },
    )

    decisions = scope.segment(
        Enrollment.objects.filter(
            arm=Arm.TREATMENT, decided_at__gte=scope.start_at, decided_at__lt=scope.end_at
        )
    ).aggregate(
        decisions=Count("id"),
        sent=Count("id", filter=Q(outcome=Outcome.SENT)),
        held_back=Count("id", filter=Q(outcome__in=(Outcome.SUPPRESSED, Outcome.DEFERRED))),
    )
    governed = ratio(sends["automated_with_decision"], sends["automated"])
    opt_out_rate = health["overall"]["opt_out_rate"]
    if governed is not None and governed >= 0.99 and decisions["held_back"] and (opt_out_rate or 0) < 0.02:
        governance_stage = 3
    else:
        governance_stage = _stage(governed, 0.9, 2)  # stage 3 needs the rules to bite too (above)
    governance = _dimension(
        "governance",
        governance_stage,
        {
            "automated_texts_with_a_decision": sends["automated_with_decision"],
            "share_governed": rate(governed),
            "decisions": decisions["decisions"],
            "share_passing_governance": rate(ratio(decisions["sent"], decisions["decisions"])),
            "held_back_by_rules": decisions["held_back"],
            "opt_out_rate": opt_out_rate,
        },
        {
            1: "Send every automated text through plays so each has a governance decision on record.",
            2: "Keep opt-outs under 2% with caps, suppression and quiet hours that actually hold texts back.",
        },
    )

    inbound = scope.segment(
        Message.objects.filter(
            direction=Direction.INBOUND, created_at__gte=scope.start_at, created_at__lt=scope.end_at
        ),
        prefix="contact__account__",
    ).aggregate(replies=Count("id"), labelled=Count("id", filter=~Q(intent="")))
    with_intent = ratio(inbound["labelled"], inbound["replies"])
    data = _dimension(
        "data and visibility",
        _stage(with_intent, 0.5, 0.9),
        {
            "replies": inbound["replies"],
            "with_intent": inbound["labelled"],
            "share_with_intent": rate(with_intent),
        },
        {
            1: "Classify replies (intent rules) so at least half carry an intent.",
            2: "Tune intent rules and relabel in the inbox until 90% of replies carry an intent.",
        },
    )

    covered = Enrollment.objects.filter(
        account=OuterRef("account"),
        play__moment="renewal",
        decided_at__date__lte=OuterRef("end_date"),
        decided_at__date__gte=OuterRef("end_date") - timedelta(days=RENEWAL_LOOKBACK_DAYS),
    )
    terms = scope.segment(
        Renewal.objects.filter(end_date__gte=scope.start, end_date__lte=scope.end)
    ).aggregate(terms=Count("id"), covered=Count("id", filter=Exists(covered)))
    coverage = ratio(terms["covered"], terms["terms"])
    retention = _dimension(
        "retention",
        _stage(coverage, 0.4, 0.8),
        {
            "terms_ending": terms["terms"],
            "covered_by_renewal_plays": terms["covered"],
            "coverage": rate(coverage),
        },
        {
            1: f"Run renewal-window plays so at least 40% of renewals get a touch in their last "
            f"{RENEWAL_LOOKBACK_DAYS} days.",
            2: "Cover 80% of renewals: add 60/30/7-day reminders and widen audiences.",
        },
    )

    live = Play.objects.filter(status__in=(PlayStatus.ACTIVE, PlayStatus.PAUSED))
    plays = live.aggregate(
        plays=Count("id"),
        with_holdout=Count("id", filter=Q(holdout_percent__gt=0)),
    )
    measured = live.filter(holdout_percent__gt=0, enrollments__arm=Arm.CONTROL).distinct().count()
    holdout_share = ratio(plays["with_holdout"], plays["plays"])
    ltv_stage = _stage(holdout_share, 0.5, 1)
    if ltv_stage == 3 and not measured:
        ltv_stage = 2
    measurement = _dimension(
        "LTV measurement",
        ltv_stage,
        {
            "live_plays": plays["plays"],
            "with_holdout": plays["with_holdout"],
            "share_with_holdout": rate(holdout_share),
            "plays_with_control_enrollments": measured,
        },
        {
            1: "Give at least half of the live plays a holdout so their effect can be measured.",
            2: "Give every live play a holdout and let control arms fill before judging lift.",
        },
    )
    dimensions = [execution, governance, data, retention, measurement]
    return {
        "scope": scope.as_dict(),
        "dimensions": dimensions,
        "overall_stage": min(d["stage"] for d in dimensions),
    }
