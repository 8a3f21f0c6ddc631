"""What an analytics question is about: a date range and a customer segment, parsed strictly
from query parameters (bad input is a 400 naming the parameter, never a 500)."""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q, QuerySet

from core.dates import OUT_OF_RANGE, date_out_of_range
from crm.models import AcquisitionChannel, LifecycleStage

DEFAULT_DAYS = 365
MAX_DAYS = 366 * 10


class ScopeError(ValueError):
    """Bad analytics parameters: ``errors`` maps each parameter to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Scope:
    """A period [start, end] (dates, inclusive, UTC) and an account segment. Segment filters
    apply to accounts; with any of them set, consumers without an account are left out."""

    start: date
    end: date
    plan: str = ""
    acquisition_channel: str = ""
    owner: int | None = None
    lifecycle_stage: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        """Exclusive upper bound: midnight after ``end``."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def has_segment(self) -> bool:
        return bool(self.plan or self.acquisition_channel or self.owner or self.lifecycle_stage)

    def account_q(self, prefix: str = "") -> Q:
        """The segment as a filter on accounts, or on a relation to them (``prefix='account__'``)."""
        q = Q()
        if self.plan:
            q &= Q(**{f"{prefix}plan": self.plan})
        if self.acquisition_channel:
            q &= Q(**{f"{prefix}acquisition_channel": self.acquisition_channel})
        if self.owner:
            q &= Q(**{f"{prefix}owner_id": self.owner})
        if self.lifecycle_stage:
            q &= Q(**{f"{prefix}lifecycle_stage": self.lifecycle_stage})
        return q

    def segment(self, queryset: QuerySet, prefix: str = "account__") -> QuerySet:
        return queryset.filter(self.account_q(prefix)) if self.has_segment else queryset

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("extra")
        data = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in data.items()}
        return {**data, **self.extra}

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()


def date_param(params, name: str, errors: dict) -> date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        errors[name] = f"'{raw}' is not a date; use YYYY-MM-DD."
        return None
    if date_out_of_range(value):
        errors[name] = OUT_OF_RANGE
        return None
    return value


def _choice(params, name: str, choices, errors: dict) -> str:
    raw = (params.get(name) or "").strip()
    if raw and raw not in choices:
        errors[name] = f"'{raw}' is not one of: {', '.join(sorted(choices))}."
        return ""
    return raw


def int_param(params, name: str, default: int, errors: dict, *, lo: int, hi: int) -> int:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        errors[name] = f"'{raw}' is not a whole number."
        return default
    if not lo <= value <= hi:
        errors[name] = f"must be between {lo} and {hi}."
        return default
    return value


def scope_from_params(params, *, today: date | None = None, extra_errors: dict | None = None) -> Scope:
    """Parse ``start``, ``end``, ``plan``, ``acquisition_channel``, ``owner`` and
    ``lifecycle_stage``. Raises ScopeError listing every bad parameter."""
    errors: dict[str, str] = dict(extra_errors or {})
    today = today or datetime.now(UTC).date()
    end = date_param(params, "end", errors) or today
    start = date_param(params, "start", errors) or end - timedelta(days=DEFAULT_DAYS - 1)
    if "start" not in errors and "end" not in errors:
        if start > end:
            errors["start"] = "must not be after end."
        elif (end - start).days > MAX_DAYS:
            errors["start"] = f"the period may span at most {MAX_DAYS} days."
    owner = int_param(params, "owner", 0, errors, lo=1, hi=2**31 - 1) or None
    plan = (params.get("plan") or "").strip()[:50]
    scope = Scope(
        start=start,
        end=end,
        plan=plan,
        acquisition_channel=_choice(params, "acquisition_channel", AcquisitionChannel.values, errors),
        owner=owner,
        lifecycle_stage=_choice(params, "lifecycle_stage", LifecycleStage.values, errors),
    )
    if errors:
        raise ScopeError(errors)
    return scope
