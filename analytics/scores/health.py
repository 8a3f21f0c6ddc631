"""Account health: the probability that an account churns at its next renewal, learned from the
team's own history (analytics/DEFINITIONS.md, "Account health and churn risk").

Features are read *as of* a moment with a few aggregate queries over every account at once
(``features_as_of``): usage events and their trend, seat use, SMS replies and their intents,
help requests, renewal proximity and past renewal outcomes. Training rows are monthly snapshots
of accounts whose term ended within ``HORIZON_DAYS`` after the snapshot, labelled by that term's
decision (churned or not). A logistic regression on standardized features is backtested by time
(fit on the renewals decided before T, AUC and a calibration table on those decided after) and
then refitted on every labelled renewal to score today's accounts; each account's top factors
are coefficient x standardized value, in words. While the history holds fewer than
``settings.HEALTH_MIN_RENEWALS`` labelled renewals or ``settings.HEALTH_MIN_CHURNS`` churns, the
documented rules (``RULES``) score instead."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import numpy as np
from django.conf import settings
from django.db.models import Avg, Count, FloatField, Min, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from core.bulk import in_ids
from crm.models import Account, Event, HealthBand, HealthSource, Renewal, RenewalStatus
from sms.models import Direction, Intent, Message

# --- Definitions ------------------------------------------------------------------------------

USAGE_DAYS = 30  # usage is counted over the last 30 days, its trend against the 30 before
SEAT_DAYS = 35  # seat use: the mean `seats_used` ratio reported in the last 35 days
REPLY_DAYS = 90  # replies, negative replies and help requests: the last 90 days
HORIZON_DAYS = 90  # a snapshot is a training row for a term ending within 90 days after it
MAX_SNAPSHOTS = 36  # monthly snapshots, the latest 36 at most
TEST_SHARE = 0.3  # the backtest holds out the last 30% of labelled renewals by decision time
# Seat readings are measurements, not usage.
MEASURE_EVENTS = ("seats_used", "seat_limit_90")
NEGATIVE_INTENTS = (Intent.OPT_OUT, Intent.DEFERRAL)
# Bands on the churn risk: at risk from 30%, watch from 15%.
AT_RISK_FROM, WATCH_FROM = 0.30, 0.15
TOP_FACTORS = 3
# Calibration table bins (predicted probability), left-closed, the last one closed.
CALIBRATION_EDGES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


@dataclass(frozen=True)
class Feature:
    name: str
    label: str
    definition: str


FEATURES = (
    Feature("usage_30d", "Usage", "log(1 + usage events in the last 30 days); every event but seat readings"),
    Feature("usage_trend", "Usage trend", "log((usage last 30 days + 1) / (usage the 30 days before + 1))"),
    Feature(
        "seat_use", "Seat use", "mean `seats_used` ratio in the last 35 days (missing: the training mean)"
    ),
    Feature("replies_90d", "SMS replies", "log(1 + inbound texts from the account's contacts in 90 days)"),
    Feature(
        "negative_replies_90d", "Negative replies", "inbound texts read as opt-out or deferral in 90 days"
    ),
    Feature("help_requests_90d", "Help requests", "inbound texts read as help requests in 90 days"),
    Feature("days_to_renewal", "Renewal proximity", "days to the next term end, capped at 90"),
    Feature("past_downgrades", "Past downgrades", "terms decided as downgraded before the moment"),
    Feature("past_expansions", "Past expansions", "terms decided as expanded before the moment"),
)
NAMES = tuple(f.name for f in FEATURES)
INDEX = {name: i for i, name in enumerate(NAMES)}


@dataclass
class Raw:
    """What was read for one account as of a moment, before it becomes a feature vector."""

    usage: int = 0
    usage_prior: int = 0
    seat_use: float | None = None
    replies: int = 0
    negative: int = 0
    help: int = 0
    next_end: date | None = None
    downgrades: int = 0
    expansions: int = 0

    def vector(self, at: datetime, seat_fill: float) -> list[float]:
        days = HORIZON_DAYS if self.next_end is None else (self.next_end - at.date()).days
        return [
            math.log1p(self.usage),
            math.log((self.usage + 1) / (self.usage_prior + 1)),
            seat_fill if self.seat_use is None else self.seat_use,
            math.log1p(self.replies),
            float(self.negative),
            float(self.help),
            float(max(0, min(HORIZON_DAYS, days))),
            float(self.downgrades),
            float(self.expansions),
        ]


def _ids_filter(queryset, field: str, account_ids: Collection[int] | None):
    return queryset if account_ids is None else queryset.filter(in_ids(field, account_ids))


def features_as_of(at: datetime, account_ids: Collection[int] | None = None) -> dict[int, Raw]:
    """What each account looked like at ``at`` (only data before it): four aggregate queries
    whatever the number of accounts. ``account_ids`` None reads every account."""
    raws: dict[int, Raw] = {}

    def raw(account_id: int) -> Raw:
        found = raws.get(account_id)
        if found is None:
            found = raws[account_id] = Raw()
        return found

    usage = (
        _ids_filter(Event.objects, "account_id", account_ids)
        .filter(
            account_id__isnull=False,
            occurred_at__gte=at - timedelta(days=2 * USAGE_DAYS),
            occurred_at__lt=at,
        )
        .exclude(name__in=MEASURE_EVENTS)
        .values("account_id")
        .annotate(
            recent=Count("id", filter=Q(occurred_at__gte=at - timedelta(days=USAGE_DAYS))),
            prior=Count("id", filter=Q(occurred_at__lt=at - timedelta(days=USAGE_DAYS))),
        )
        .order_by()
    )
    for row in usage:
        found = raw(row["account_id"])
        found.usage, found.usage_prior = row["recent"], row["prior"]
    seats = (
        _ids_filter(Event.objects, "account_id", account_ids)
        .filter(
            account_id__isnull=False,
            name="seats_used",
            occurred_at__gte=at - timedelta(days=SEAT_DAYS),
            occurred_at__lt=at,
        )
        .values("account_id")
        .annotate(ratio=Avg(Cast(KeyTextTransform("ratio", "properties"), FloatField())))
        .order_by()
    )
    for row in seats:
        if row["ratio"] is not None:
            raw(row["account_id"]).seat_use = max(0.0, min(1.5, row["ratio"]))
    replies = (
        _ids_filter(Message.objects, "contact__account_id", account_ids)
        .filter(
            direction=Direction.INBOUND,
            contact__account_id__isnull=False,
            created_at__gte=at - timedelta(days=REPLY_DAYS),
            created_at__lt=at,
        )
        .values("contact__account_id")
        .annotate(
            replies=Count("id"),
            negative=Count("id", filter=Q(intent__in=NEGATIVE_INTENTS)),
            help=Count("id", filter=Q(intent=Intent.HELP)),
        )
        .order_by()
    )
    for row in replies:
        found = raw(row["contact__account_id"])
        found.replies, found.negative, found.help = row["replies"], row["negative"], row["help"]
    terms = (
        _ids_filter(Renewal.objects, "account_id", account_ids)
        .values("account_id")
        .annotate(
            next_end=Min("end_date", filter=Q(end_date__gt=at.date())),
            downgrades=Count("id", filter=Q(decided_at__lt=at, status=RenewalStatus.DOWNGRADED)),
            expansions=Count("id", filter=Q(decided_at__lt=at, status=RenewalStatus.EXPANDED)),
        )
        .order_by()
    )
    for row in terms:
        found = raw(row["account_id"])
        found.next_end, found.downgrades, found.expansions = (
            row["next_end"],
            row["downgrades"],
            row["expansions"],
        )
    return raws


# --- History: labelled snapshots ----------------------------------------------------------------


@dataclass
class History:
    at: list[datetime]  # the snapshot of each row
    account_ids: list[int]
    raws: list[Raw]
    labels: np.ndarray  # 1: churned at that renewal
    decided: list[datetime]  # when that renewal was decided (the time split's key)
    renewals: int  # labelled renewals with at least one row
    churns: int


def _month_starts(first: datetime, last: datetime) -> list[datetime]:
    out, year, month = [], first.year, first.month
    while True:
        moment = datetime(year, month, 1, tzinfo=UTC)
        if moment > last:
            return out
        if moment >= first:
            out.append(moment)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def history(now: datetime) -> History:
    """One row per (monthly snapshot, decided renewal whose term ended within HORIZON_DAYS after
    it, decided after it, account signed up before it). The features read only data before the
    snapshot; the label is the renewal's decision."""
    terms = list(
        Renewal.objects.filter(decided_at__isnull=False, decided_at__lte=now)
        .exclude(status=RenewalStatus.UPCOMING)
        .values_list("pk", "account_id", "end_date", "decided_at", "status", "account__signed_up_at")
        .order_by("end_date", "pk")
    )
    empty = History([], [], [], np.zeros(0), [], 0, 0)
    if not terms:
        return empty
    first = min(datetime.combine(t[2], datetime.min.time(), UTC) for t in terms) - timedelta(
        days=HORIZON_DAYS
    )
    snapshots = _month_starts(first, now)[-MAX_SNAPSHOTS:]
    ends = [t[2] for t in terms]
    rows: list[tuple[datetime, int, bool, datetime, int]] = []
    for at in snapshots:
        horizon = at.date() + timedelta(days=HORIZON_DAYS)
        window = terms[bisect_right(ends, at.date()) : bisect_right(ends, horizon)]
        for pk, account_id, _end, decided_at, status, signed_up_at in window:
            if decided_at > at and signed_up_at < at:
                rows.append((at, account_id, status == RenewalStatus.CHURNED, decided_at, pk))
    by_snapshot: dict[datetime, list[int]] = {}
    for at, account_id, *_ in rows:
        by_snapshot.setdefault(at, []).append(account_id)
    read = {at: features_as_of(at, ids) for at, ids in by_snapshot.items()}
    used = {row[4]: row[2] for row in rows}
    return History(
        at=[row[0] for row in rows],
        account_ids=[row[1] for row in rows],
        raws=[read[row[0]].get(row[1]) or Raw() for row in rows],
        labels=np.array([1 if row[2] else 0 for row in rows]),
        decided=[row[3] for row in rows],
        renewals=len(used),
        churns=sum(used.values()),
    )


# --- The model ---------------------------------------------------------------------------------


@dataclass
class Model:
    scaler: StandardScaler
    classifier: LogisticRegression
    seat_fill: float

    def matrix(self, ats: Sequence[datetime], raws: Sequence[Raw]) -> np.ndarray:
        return np.array(
            [raw.vector(at, self.seat_fill) for at, raw in zip(ats, raws, strict=True)], dtype=float
        )

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(self.scaler.transform(x))[:, 1]

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each feature's push on the log-odds: coefficient x standardized value."""
        return self.scaler.transform(x) * self.classifier.coef_[0]


def fit(ats: Sequence[datetime], raws: Sequence[Raw], labels: np.ndarray) -> Model:
    seats = [raw.seat_use for raw in raws if raw.seat_use is not None]
    seat_fill = float(np.mean(seats)) if seats else 0.0
    x = np.array([raw.vector(at, seat_fill) for at, raw in zip(ats, raws, strict=True)], dtype=float)
    scaler = StandardScaler().fit(x)
    classifier = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x), labels)
    return Model(scaler, classifier, seat_fill)


def calibration_table(
    predicted: Sequence[float], observed: Sequence[int], edges=CALIBRATION_EDGES
) -> list[dict]:
    """Predicted vs observed churn by bin of predicted probability: each bin's count, mean
    prediction and observed rate. Bins are [lo, hi), the last [lo, hi]; empty bins are listed."""
    table = []
    for k, (lo, hi) in enumerate(pairwise(edges)):
        last = k == len(edges) - 2
        members = [
            (p, y) for p, y in zip(predicted, observed, strict=True) if lo <= p < hi or (last and p == hi)
        ]
        n = len(members)
        table.append(
            {
                "bin": f"{lo:.0%}-{hi:.0%}",
                "low": lo,
                "high": hi,
                "n": n,
                "mean_predicted": round(sum(p for p, _ in members) / n, 4) if n else None,
                "observed_rate": round(sum(y for _, y in members) / n, 4) if n else None,
                "churned": sum(y for _, y in members),
            }
        )
    return table


def backtest(hist: History) -> dict:
    """Fit on the renewals decided before T, test on those decided from T (the last TEST_SHARE
    of labelled renewals by decision time): AUC and the calibration table on the test rows."""
    decisions = sorted(set(hist.decided))
    if len(decisions) < 2:
        return {"auc": None, "note": "Too few renewals to hold any out."}
    split = decisions[min(len(decisions) - 1, int(len(decisions) * (1 - TEST_SHARE)))]
    train = [i for i, d in enumerate(hist.decided) if d < split]
    test = [i for i, d in enumerate(hist.decided) if d >= split]
    result = {
        "split_at": split.isoformat(),
        "train_rows": len(train),
        "test_rows": len(test),
        "test_period": {
            "start": split.date().isoformat(),
            "end": max(hist.decided).date().isoformat(),
        },
    }
    y_train, y_test = hist.labels[train], hist.labels[test]
    if len(set(y_train.tolist())) < 2 or len(set(y_test.tolist())) < 2:
        return {**result, "auc": None, "note": "The training or test period lacks churned or renewed terms."}
    model = fit([hist.at[i] for i in train], [hist.raws[i] for i in train], y_train)
    predicted = model.predict(model.matrix([hist.at[i] for i in test], [hist.raws[i] for i in test]))
    return {
        **result,
        "auc": round(float(roc_auc_score(y_test, predicted)), 4),
        "test_churn_rate": round(float(y_test.mean()), 4),
        "calibration": calibration_table(predicted.tolist(), y_test.tolist()),
        "note": "",
    }


# --- Rules fallback -----------------------------------------------------------------------------

# (name, points, test, words): the risk is BASE plus the points of every rule that fires, at
# most RULES_CAP. Not a calibrated probability: a scorecard until the history can teach a model.
RULES_BASE, RULES_CAP = 0.05, 0.95
RULES = (
    (
        "usage_drop",
        0.25,
        lambda r: r.usage_prior >= 4 and r.usage * 2 <= r.usage_prior,
        "usage fell by half or more",
    ),
    ("no_usage", 0.25, lambda r: r.usage == 0, "no usage in the last 30 days"),
    ("low_seats", 0.15, lambda r: r.seat_use is not None and r.seat_use < 0.4, "under 40% of seats in use"),
    ("negative_reply", 0.15, lambda r: r.negative > 0, "a reply declining or opting out in 90 days"),
    ("help_requests", 0.10, lambda r: r.help >= 3, "3 or more help requests in 90 days"),
    ("downgraded", 0.10, lambda r: r.downgrades > 0, "a past downgrade"),
)


def rules_score(raw: Raw) -> tuple[float, list[dict]]:
    fired = [(name, points, words) for name, points, test, words in RULES if test(raw)]
    risk = min(RULES_CAP, RULES_BASE + sum(points for _, points, _ in fired))
    factors = [
        {"feature": name, "text": words[:1].upper() + words[1:], "effect": points, "raises": True}
        for name, points, words in sorted(fired, key=lambda f: -f[1])
    ][:TOP_FACTORS]
    return round(risk, 4), factors


# --- Words --------------------------------------------------------------------------------------


def _percent_change(raw: Raw) -> str:
    change = (raw.usage + 1) / (raw.usage_prior + 1) - 1
    if abs(change) < 0.05:
        return "usage flat on the 30 days before"
    return f"usage {'up' if change > 0 else 'down'} {abs(change):.0%} on the 30 days before"


def describe(name: str, raw: Raw, at: datetime) -> str:
    """One feature of one account, in words."""
    if name == "usage_30d":
        return f"{raw.usage} usage events in the last 30 days"
    if name == "usage_trend":
        return _percent_change(raw)[:1].upper() + _percent_change(raw)[1:]
    if name == "seat_use":
        return "No seat-use reading lately" if raw.seat_use is None else f"{raw.seat_use:.0%} of seats in use"
    if name == "replies_90d":
        return f"{raw.replies} SMS replies in 90 days"
    if name == "negative_replies_90d":
        return f"{raw.negative} replies declining or opting out in 90 days"
    if name == "help_requests_90d":
        return f"{raw.help} help requests in 90 days"
    if name == "days_to_renewal":
        if raw.next_end is None:
            return "No upcoming renewal"
        return f"Renewal in {(raw.next_end - at.date()).days} days"
    if name == "past_downgrades":
        return f"{raw.downgrades} past downgrades"
    return f"{raw.expansions} past expansions"


def band_of(risk: float) -> str:
    if risk >= AT_RISK_FROM:
        return HealthBand.AT_RISK
    return HealthBand.WATCH if risk >= WATCH_FROM else HealthBand.GOOD


# --- Training and scoring ------------------------------------------------------------------------


@dataclass
class Trained:
    source: str
    report: dict
    model: Model | None


def train(now: datetime | None = None) -> Trained:
    """The model (or the rules, while history is small) and its report: what the analytics
    answer shows."""
    now = now or timezone.now()
    hist = history(now)
    enough = hist.renewals >= settings.HEALTH_MIN_RENEWALS and hist.churns >= settings.HEALTH_MIN_CHURNS
    report = {
        "as_of": now.isoformat(),
        "labelled_renewals": hist.renewals,
        "churned_renewals": hist.churns,
        "rows": len(hist.labels),
        "thresholds": {
            "min_renewals": settings.HEALTH_MIN_RENEWALS,
            "min_churns": settings.HEALTH_MIN_CHURNS,
        },
        "bands": {"at_risk_from": AT_RISK_FROM, "watch_from": WATCH_FROM},
        "features": [{"name": f.name, "label": f.label, "definition": f.definition} for f in FEATURES],
        "definitions": {
            "label": "churned at the renewal (status churned) vs renewed, expanded or downgraded",
            "rows": (
                f"one per monthly snapshot and decided renewal whose term ended within {HORIZON_DAYS} "
                "days after it and was decided after it; features use only data before the snapshot"
            ),
            "backtest": (
                f"fit on renewals decided before T, tested on the last {TEST_SHARE:.0%} by decision "
                "time; AUC is sklearn.metrics.roc_auc_score on the test rows"
            ),
            "factors": "coefficient x standardized value (push on the log-odds), strongest first",
        },
    }
    if not enough or len(set(hist.labels.tolist())) < 2:
        report.update(
            source=HealthSource.RULES,
            note=(
                f"Rules until the history holds {settings.HEALTH_MIN_RENEWALS} labelled renewals and "
                f"{settings.HEALTH_MIN_CHURNS} churns (it holds {hist.renewals} and {hist.churns})."
            ),
            rules=[{"name": name, "points": points, "when": words} for name, points, _, words in RULES],
            rules_base=RULES_BASE,
            rules_cap=RULES_CAP,
            backtest=None,
            coefficients=[],
        )
        return Trained(HealthSource.RULES, report, None)
    model = fit(hist.at, hist.raws, hist.labels)
    coefficients = [
        {
            "feature": f.name,
            "label": f.label,
            "coefficient": round(float(c), 4),
            "mean": round(float(m), 4),
            "sd": round(float(s), 4),
        }
        for f, c, m, s in zip(
            FEATURES, model.classifier.coef_[0], model.scaler.mean_, model.scaler.scale_, strict=True
        )
    ]
    coefficients.sort(key=lambda row: -abs(row["coefficient"]))
    report.update(
        source=HealthSource.MODEL,
        note="",
        backtest=backtest(hist),
        coefficients=coefficients,
        intercept=round(float(model.classifier.intercept_[0]), 4),
    )
    return Trained(HealthSource.MODEL, report, model)


def model_factors(contributions: np.ndarray, raw: Raw, at: datetime) -> list[dict]:
    order = np.argsort(-np.abs(contributions))[:TOP_FACTORS]
    return [
        {
            "feature": NAMES[k],
            "text": describe(NAMES[k], raw, at),
            "effect": round(float(contributions[k]), 3),
            "raises": bool(contributions[k] > 0),
        }
        for k in order
        if abs(contributions[k]) >= 0.01
    ]


def score(trained: Trained, now: datetime, account_ids: Collection[int] | None = None) -> list[tuple]:
    """(account id, churn risk, band, factors, source) for every account not churned by ``now``
    (churned ones get empty health): the rows ``crm.services.accounts_health_write`` takes."""
    accounts = _ids_filter(Account.objects, "id", account_ids).values_list("pk", "churned_at").order_by("pk")
    live, gone = [], []
    for pk, churned_at in accounts:
        (gone if churned_at is not None and churned_at <= now else live).append(pk)
    raws = features_as_of(now, account_ids)
    rows: list[tuple] = [(pk, None, "", [], "") for pk in gone]
    if not live:
        return rows
    account_raws = [raws.get(pk) or Raw() for pk in live]
    if trained.model is None:
        for pk, raw in zip(live, account_raws, strict=True):
            risk, factors = rules_score(raw)
            rows.append((pk, risk, band_of(risk), factors, HealthSource.RULES))
        return rows
    model = trained.model
    x = model.matrix([now] * len(live), account_raws)
    risks = model.predict(x)
    pushes = model.contributions(x)
    for k, (pk, raw) in enumerate(zip(live, account_raws, strict=True)):
        risk = round(float(risks[k]), 4)
        rows.append((pk, risk, band_of(risk), model_factors(pushes[k], raw, now), HealthSource.MODEL))
    return rows
