"""Lifecycle stage from data: each account's stage derived by documented rules from its events,
renewals, deals and health score, with the reason (analytics/DEFINITIONS.md, "Lifecycle stage
from data"). Read-only: ``crm.services.lifecycle_stages_refresh`` writes what ``derive`` says.

The first rule that holds places the account:

1. churned: ``churned_at`` is set and not in the future;
2. at risk: the health band is at risk, or no activation event LIFECYCLE_ONBOARDING_DAYS after
   sign-up;
3. renewal window: an upcoming term ends within LIFECYCLE_RENEWAL_WINDOW_DAYS;
4. expansion: an open expansion deal, or seat use (``seats_used`` ratio) of
   LIFECYCLE_EXPANSION_SEAT_USE or more in the last 35 days;
5. onboarding: within LIFECYCLE_ONBOARDING_DAYS of sign-up, without the activation event
   (LIFECYCLE_ACTIVATION_EVENT);
6. adopting: within LIFECYCLE_ONBOARDING_DAYS of sign-up, with the activation event;
7. active: everything else.

A stage set by hand (``lifecycle_stage_override``) is the effective stage until cleared; the
derived stage and its reason are kept in the reason meanwhile."""

from collections.abc import Collection
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, FloatField, Max, Min, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from core.bulk import in_ids
from crm.models import (
    Account,
    Deal,
    DealKind,
    Event,
    HealthBand,
    LifecycleStage,
    Renewal,
    RenewalStatus,
)

SEAT_DAYS = 35


def _only(queryset, field: str, account_ids: Collection[int] | None):
    return queryset if account_ids is None else queryset.filter(in_ids(field, account_ids))


def _day(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}"


def derive(now: datetime, account_ids: Collection[int] | None = None) -> list[tuple[int, str, str]]:
    """(account id, effective stage, reason) for the accounts (all when ``account_ids`` is None),
    in five queries whatever their number."""
    onboarding_days = settings.LIFECYCLE_ONBOARDING_DAYS
    window_days = settings.LIFECYCLE_RENEWAL_WINDOW_DAYS
    seat_use_from = settings.LIFECYCLE_EXPANSION_SEAT_USE
    activation = settings.LIFECYCLE_ACTIVATION_EVENT
    accounts = list(
        _only(Account.objects, "id", account_ids)
        .values_list(
            "pk", "signed_up_at", "churned_at", "health_band", "churn_risk", "lifecycle_stage_override"
        )
        .order_by("pk")
    )
    if not accounts:
        return []
    ids = None if account_ids is None else [row[0] for row in accounts]
    renewals = dict(
        _only(Renewal.objects, "account_id", ids)
        .filter(status=RenewalStatus.UPCOMING, end_date__gte=now.date())
        .values("account_id")
        .annotate(next_end=Min("end_date"))
        .values_list("account_id", "next_end")
        .order_by()
    )
    expansions = dict(
        _only(Deal.objects, "account_id", ids)
        .filter(kind=DealKind.EXPANSION, stage__is_closed=False)
        .values("account_id")
        .annotate(n=Count("id"))
        .values_list("account_id", "n")
        .order_by()
    )
    events = {
        row["account_id"]: row
        for row in _only(Event.objects, "account_id", ids)
        .filter(account_id__isnull=False, occurred_at__lt=now)
        .filter(Q(name=activation) | Q(name="seats_used", occurred_at__gte=now - timedelta(days=SEAT_DAYS)))
        .values("account_id")
        .annotate(
            activated=Min("occurred_at", filter=Q(name=activation)),
            seat_use=Max(
                Cast(KeyTextTransform("ratio", "properties"), FloatField()), filter=Q(name="seats_used")
            ),
        )
        .order_by()
    }
    out = []
    for pk, signed_up_at, churned_at, band, risk, override in accounts:
        signals = events.get(pk, {})
        stage, reason = _rule(
            now=now,
            signed_up_at=signed_up_at,
            churned_at=churned_at,
            band=band,
            risk=risk,
            next_end=renewals.get(pk),
            open_expansions=expansions.get(pk, 0),
            activated=signals.get("activated"),
            seat_use=signals.get("seat_use"),
            onboarding_days=onboarding_days,
            window_days=window_days,
            seat_use_from=seat_use_from,
            activation=activation,
        )
        if override:
            label = LifecycleStage(stage).label
            reason = f"Set by hand; the data says {label}: {reason}"
            stage = override
        out.append((pk, stage, reason[:255]))
    return out


def _rule(
    *,
    now,
    signed_up_at,
    churned_at,
    band,
    risk,
    next_end,
    open_expansions,
    activated,
    seat_use,
    onboarding_days,
    window_days,
    seat_use_from,
    activation,
) -> tuple[str, str]:
    """The first rule that holds (the module's docstring lists them), with its reason."""
    age = (now - signed_up_at).days
    if churned_at is not None and churned_at <= now:
        return LifecycleStage.CHURNED, f"Churned on {_day(churned_at)}."
    if band == HealthBand.AT_RISK:
        shown = "" if risk is None else f" (churn risk {risk:.0%})"
        return LifecycleStage.AT_RISK, f"Health band is at risk{shown}."
    if activated is None and age >= onboarding_days:
        return LifecycleStage.AT_RISK, f"No {activation} event {onboarding_days} days after sign-up."
    if next_end is not None and (next_end - now.date()).days <= window_days:
        days = (next_end - now.date()).days
        return LifecycleStage.RENEWAL_WINDOW, f"Term ends on {next_end:%Y-%m-%d}, in {days} days."
    if open_expansions:
        return LifecycleStage.EXPANSION, f"{open_expansions} open expansion deal(s)."
    if seat_use is not None and seat_use >= seat_use_from:
        return LifecycleStage.EXPANSION, f"{seat_use:.0%} of seats in use (from {seat_use_from:.0%})."
    if age < onboarding_days and activated is None:
        return LifecycleStage.ONBOARDING, f"Signed up {age} days ago; no {activation} event yet."
    if age < onboarding_days:
        return (
            LifecycleStage.ADOPTING,
            f"Signed up {age} days ago; {activation} on {_day(activated)}.",
        )
    return LifecycleStage.ACTIVE, "Past onboarding; not at risk, no renewal due, no expansion signal."
