"""Purchase histories from orders, in the shape the BG/NBD and Gamma-Gamma models read.

Conventions: those of FHL 2005's CDNOW data and of lifetimes' ``summary_data_from_transaction_data``
(``freq="D"``) and pymc-marketing's ``rfm_summary``, so fits compare one to one:
- the customer is the order's contact, or its account when the order has no contact (B2B
  orders placed for the company); a contact's orders stay with the contact even if they carry
  an account, so one person is never counted twice;
- a purchase is a UTC calendar day with orders: several orders on one day are one purchase,
  worth the day's total;
- an order of $0 is a purchase (a free item or a fully discounted order is still a visit); a
  negative order (refund, credit) is not a purchase and is left out;
- the last observed day is the UTC date of the observation end (a date is observed through its
  end; an exclusive datetime bound observes the day before it when it falls on midnight);
- frequency = purchase days - 1 (repeat purchases); recency = last - first purchase day and
  T = last observed day - first purchase day, in whole days, divided by 7 in weeks (FHL 2005's
  unit); a first purchase on the last observed day gives T = 0;
- monetary_value = mean of the repeat purchase days' totals: the first purchase is left out.
Only orders strictly before the observation end count.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from analytics.metrics.common import TruncDateUTC
from crm.models import Order

from .value import TIME_UNIT_DAYS

CONTACT = "contact"
ACCOUNT = "account"


@dataclass(frozen=True)
class PurchaseSummary:
    observation_end: datetime
    observation_end_requested: datetime
    time_unit: str
    kind: np.ndarray  # "contact" or "account" per customer
    customer_id: np.ndarray
    first_purchase: np.ndarray  # datetime64[D]
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary_value: np.ndarray  # 0 for customers without repeat purchases
    orders: int
    first_order_day: date | None
    last_order_day: date | None
    margin_orders: int
    margin_amount: Decimal  # sum of amount * gross_margin over orders that have a margin
    margin_revenue: Decimal  # sum of amount over the same orders

    @property
    def customers(self) -> int:
        return int(self.frequency.size)

    @property
    def repeat_customers(self) -> int:
        return int(np.count_nonzero(self.frequency > 0))


def observation_end_at(observation_end: date | datetime) -> datetime:
    """A date means "through the end of that day" (midnight after it, UTC); a datetime must be
    timezone-aware and is an exclusive bound."""
    if isinstance(observation_end, datetime):
        if timezone.is_naive(observation_end):
            raise ValueError("observation_end must be timezone-aware (UTC).")
        return observation_end.astimezone(UTC)
    if isinstance(observation_end, date):
        return datetime.combine(observation_end + timedelta(days=1), time.min, tzinfo=UTC)
    raise ValueError("observation_end must be a date or a timezone-aware datetime.")


def last_observed_day(end: datetime) -> date:
    """The UTC date of the last instant before the exclusive bound ``end``: T runs to this day."""
    return (end - timedelta(microseconds=1)).date()


def purchase_summary(
    *, observation_end: date | datetime, time_unit: str, orders: QuerySet | None = None
) -> PurchaseSummary:
    """Per-customer frequency, recency, T and monetary value from ``orders`` (default: all)
    before ``observation_end``, in ``time_unit`` ("day" or "week"). One query: orders grouped
    by customer and UTC day in SQL, the per-day rows folded per customer in numpy.

    An observation end in the future is moved to now: the time after now has not been
    observed, and counting it would read as customers not buying.
    """
    if time_unit not in TIME_UNIT_DAYS:
        raise ValueError(f"time_unit must be one of {', '.join(TIME_UNIT_DAYS)}, not {time_unit!r}.")
    requested = observation_end_at(observation_end)
    end = min(requested, timezone.now())
    orders = Order.objects.all() if orders is None else orders
    has_margin = Q(gross_margin__isnull=False)
    rows = list(
        orders.filter(ordered_at__lt=end, amount__gte=0)
        .annotate(
            day=TruncDateUTC("ordered_at"),
            # Account orders only count for the account when they have no contact.
            account_customer=Case(
                When(contact__isnull=True, then=F("account_id")),
                default=Value(None),
                output_field=BigIntegerField(),
            ),
        )
        .order_by()
        .values_list("contact_id", "account_customer", "day")
        .annotate(
            total=Sum("amount"),
            n=Count("id"),
            margin_n=Count("id", filter=has_margin),
            margin_amount=Sum(
                ExpressionWrapper(
                    F("amount") * F("gross_margin"),
                    output_field=DecimalField(max_digits=20, decimal_places=6),
                ),
                filter=has_margin,
            ),
            margin_revenue=Sum("amount", filter=has_margin),
        )
    )
    unit_days = TIME_UNIT_DAYS[time_unit]
    if not rows:
        empty = np.zeros(0)
        return PurchaseSummary(
            observation_end=end,
            observation_end_requested=requested,
            time_unit=time_unit,
            kind=np.zeros(0, dtype=object),
            customer_id=np.zeros(0, dtype=np.int64),
            first_purchase=np.zeros(0, dtype="datetime64[D]"),
            frequency=empty,
            recency=empty,
            T=empty,
            monetary_value=empty,
            orders=0,
            first_order_day=None,
            last_order_day=None,
            margin_orders=0,
            margin_amount=Decimal(0),
            margin_revenue=Decimal(0),
        )

    is_account = np.array([contact_id is None for contact_id, *_ in rows])
    ids = np.array(
        [acc if contact_id is None else contact_id for contact_id, acc, *_ in rows], dtype=np.int64
    )
    days = np.array([row[2] for row in rows], dtype="datetime64[D]")
    totals = np.array([float(row[3]) for row in rows])
    # Customer, then day: each customer's purchase days become one sorted, contiguous run.
    order = np.lexsort((days, ids, is_account))
    is_account, ids, days, totals = is_account[order], ids[order], days[order], totals[order]
    new_customer = np.ones(ids.size, dtype=bool)
    new_customer[1:] = (ids[1:] != ids[:-1]) | (is_account[1:] != is_account[:-1])
    starts = np.flatnonzero(new_customer)
    ends = np.append(starts[1:], ids.size) - 1
    purchase_days = ends - starts + 1
    frequency = (purchase_days - 1).astype(float)
    first_day, last_day = days[starts], days[ends]
    recency = (last_day - first_day).astype(float) / unit_days
    T = (np.datetime64(last_observed_day(end), "D") - first_day).astype(float) / unit_days
    repeat_total = np.add.reduceat(totals, starts) - totals[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary_value = np.where(frequency > 0, repeat_total / np.maximum(frequency, 1), 0.0)

    return PurchaseSummary(
        observation_end=end,
        observation_end_requested=requested,
        time_unit=time_unit,
        kind=np.where(is_account[starts], ACCOUNT, CONTACT).astype(object),
        customer_id=ids[starts],
        first_purchase=first_day,
        frequency=frequency,
        recency=recency,
        T=T,
        monetary_value=monetary_value,
        orders=sum(row[4] for row in rows),
        first_order_day=days.min().item(),
        last_order_day=days.max().item(),
        margin_orders=sum(row[5] for row in rows),
        margin_amount=sum((Decimal(str(row[6])) for row in rows if row[6] is not None), Decimal(0)),
        margin_revenue=sum((Decimal(str(row[7])) for row in rows if row[7] is not None), Decimal(0)),
    )
