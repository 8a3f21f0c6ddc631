"""Read queries behind the CRM pages. Each returns what a page shows in a constant number of
queries, whatever the number of rows."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm import custom_fields, search
from crm.models import (
    Account,
    Activity,
    Contact,
    ContactTag,
    CustomFieldObject,
    Deal,
    LifecycleStage,
    PipelineStage,
    Renewal,
    RenewalStatus,
    Tag,
    Task,
    TaskStatus,
)

TIMELINE_LIMIT = 50
ZERO = Decimal("0")
MONEY = DecimalField(max_digits=14, decimal_places=2)
# Closed deals stay on the board this long, so a win or loss can be seen (and undone).
BOARD_CLOSED_DAYS = 30
# Tasks by due date, undated last.
DUE_FIRST = (F("due_at").asc(nulls_last=True), "id")


def _amount_times_probability():
    # Divided by 100 in Python: SQLite stores whole amounts as integers and would divide them
    # as integers, truncating every deal's weighted amount.
    return ExpressionWrapper(F("amount") * F("stage__probability"), output_field=MONEY)


# --- Timeline -------------------------------------------------------------------------------


def timeline_for_account(account: Account, *, limit: int = TIMELINE_LIMIT) -> list[Activity]:
    return list(account.activities.select_related("contact", "actor")[:limit])


def timeline_for_contact(contact: Contact, *, limit: int = TIMELINE_LIMIT) -> list[Activity]:
    return list(contact.activities.select_related("actor")[:limit])


# --- Dashboard ------------------------------------------------------------------------------


@dataclass
class Dashboard:
    open_pipeline: Decimal
    weighted_pipeline: Decimal
    open_deals: int
    renewals_due_count: int
    renewals_due_acv: Decimal
    renewals_window_days: int
    accounts_by_stage: list[tuple[str, str, int]]
    accounts_total: int
    my_tasks: list[Task]
    my_open_task_count: int
    my_overdue_task_count: int
    recent_activity: list[Activity]
    renewals_due: list[Renewal] = field(default_factory=list)  # the soonest, with their account
    renewals_at_risk_count: int = 0
    renewals_at_risk_acv: Decimal = ZERO


# A renewal is at risk when its account is in one of these stages.
RENEWAL_RISK_STAGES = (LifecycleStage.AT_RISK,)


def dashboard_for(
    user,
    *,
    renewals_window_days: int = 90,
    task_limit: int = 10,
    renewal_limit: int = 8,
    activity_limit: int = 6,
) -> Dashboard:
    """What the home page shows of the CRM, in six queries whatever the size of the book."""
    today = timezone.localdate()
    pipeline = Deal.objects.filter(stage__is_closed=False).aggregate(
        total=Coalesce(Sum("amount"), ZERO, output_field=MONEY),
        weighted_x100=Coalesce(Sum(_amount_times_probability()), ZERO, output_field=MONEY),
        count=Count("id"),
    )
    due = Renewal.objects.filter(
        status=RenewalStatus.UPCOMING,
        end_date__gte=today,
        end_date__lte=today + timedelta(days=renewals_window_days),
    )
    at_risk = Q(account__lifecycle_stage__in=RENEWAL_RISK_STAGES)
    renewals = due.aggregate(
        count=Count("id"),
        acv_total=Coalesce(Sum("acv"), ZERO, output_field=MONEY),
        at_risk=Count("id", filter=at_risk),
        at_risk_acv=Coalesce(Sum("acv", filter=at_risk), ZERO, output_field=MONEY),
    )
    renewals_due = list(due.select_related("account").order_by("end_date", "id")[:renewal_limit])
    for renewal in renewals_due:
        renewal.at_risk = renewal.account.lifecycle_stage in RENEWAL_RISK_STAGES
    stage_counts = dict(
        Account.objects.order_by()
        .values_list("lifecycle_stage")
        .annotate(n=Count("id"))
        .values_list("lifecycle_stage", "n")
    )
    my_open = Task.objects.filter(owner=user, status=TaskStatus.OPEN)
    task_counts = my_open.aggregate(
        open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=timezone.now()))
    )
    my_tasks = list(my_open.select_related("account", "contact").order_by(*DUE_FIRST)[:task_limit])
    recent = list(Activity.objects.select_related("account", "contact", "actor")[:activity_limit])
    return Dashboard(
        open_pipeline=pipeline["total"],
        weighted_pipeline=(Decimal(pipeline["weighted_x100"]) / 100).quantize(Decimal("0.01")),
        open_deals=pipeline["count"],
        renewals_due_count=renewals["count"],
        renewals_due_acv=renewals["acv_total"],
        renewals_window_days=renewals_window_days,
        accounts_by_stage=[
            (value, label, stage_counts.get(value, 0)) for value, label in LifecycleStage.choices
        ],
        accounts_total=sum(stage_counts.values()),
        my_tasks=my_tasks,
        my_open_task_count=task_counts["open"],
        my_overdue_task_count=task_counts["overdue"],
        recent_activity=recent,
        renewals_due=renewals_due,
        renewals_at_risk_count=renewals["at_risk"],
        renewals_at_risk_acv=renewals["at_risk_acv"],
    )


# --- Accounts -------------------------------------------------------------------------------


def account_plans() -> list[str]:
    return list(Account.objects.exclude(plan="").order_by("plan").values_list("plan", flat=True).distinct())


def account_list(
    *,
    q: str = "",
    stage: str = "",
    owner=None,
    plan: str = "",
    ordering: tuple | None = None,
    conditions: list | None = None,
    fields: dict | None = None,
) -> QuerySet[Account]:
    """``conditions`` on custom fields (crm.custom_fields), ``fields`` their definitions by key."""
    accounts = Account.objects.select_related("owner").annotate(contacts_count=Count("contacts"))
    if conditions:
        accounts = accounts.filter(custom_fields.conditions_q(conditions, fields or {}))
    accounts = search.accounts_search(accounts, q)
    if stage:
        accounts = accounts.filter(lifecycle_stage=stage)
    if owner is not None:
        accounts = accounts.filter(owner=owner)
    if plan:
        accounts = accounts.filter(plan=plan)
    return accounts.order_by(*(ordering or ("name", "id")))


def likely_duplicate_accounts(*, name: str, domain: str = "", limit: int = 5) -> list[Account]:
    """Accounts that are probably the one about to be created: the same name in any case, or
    the same domain (ignoring case and a leading "www."). One query, from the Lower(name) index
    and the domain index."""
    name, domain = (name or "").strip(), (domain or "").strip().lower().removeprefix("www.")
    condition = Q(name__iexact=name) if name else Q(pk__in=[])
    if domain:
        condition |= Q(domain__iexact=domain) | Q(domain__iexact=f"www.{domain}")
    return list(Account.objects.filter(condition).select_related("owner").order_by("name", "id")[:limit])


@dataclass
class AccountDetail:
    account: Account
    contacts: list[Contact]
    deals: list[Deal]
    renewals: list[Renewal]
    open_tasks: list[Task]
    timeline: list[Activity]
    open_pipeline: Decimal = ZERO
    custom: list = field(default_factory=list)  # custom_fields.Shown, in order
    other_attributes: dict = field(default_factory=dict)


def account_detail(account_id: int) -> AccountDetail | None:
    account = Account.objects.select_related("owner", "ae").filter(pk=account_id).first()
    if account is None:
        return None
    deals = list(account.deals.select_related("stage", "owner", "contact"))
    custom, other = custom_fields.present(
        account.attributes, custom_fields.definitions(CustomFieldObject.ACCOUNT)
    )
    return AccountDetail(
        custom=custom,
        other_attributes=other,
        account=account,
        contacts=list(account.contacts.select_related("owner")),
        deals=deals,
        renewals=list(account.renewals.order_by("-end_date", "-id")),
        open_tasks=list(
            account.tasks.filter(status=TaskStatus.OPEN)
            .select_related("owner", "contact")
            .order_by(*DUE_FIRST)
        ),
        timeline=timeline_for_account(account),
        open_pipeline=sum((d.amount for d in deals if not d.stage.is_closed), ZERO),
    )


# --- Contacts -------------------------------------------------------------------------------


def tagged_with(name: str) -> Exists:
    """Contacts with the tag ``name`` (any case). The tag is looked up first (one query): with
    its id in the SQL, PostgreSQL knows how many contacts carry it (a rare tag: 27 ms instead of
    204 ms for a page at 100,000 contacts, bench scenario 5)."""
    ids = list(Tag.objects.filter(name__iexact=name.strip()).values_list("pk", flat=True))
    return Exists(ContactTag.objects.filter(contact_id=OuterRef("pk"), tag_id__in=ids))


def contact_list(
    *,
    q: str = "",
    account=None,
    owner=None,
    consent: str = "",
    clv_tier: str = "",
    ordering: tuple | None = None,
    tag: str = "",
    conditions: list | None = None,
    fields: dict | None = None,
) -> QuerySet[Contact]:
    """``ordering`` one of crm.listing's whitelisted sorts; by default by name (case-insensitive
    when searching: see search.CONTACT_RESULT_ORDER). ``clv_tier`` "none": not scored. ``tag``:
    contacts with that tag (any case); ``conditions`` on custom fields (crm.custom_fields),
    ``fields`` their definitions."""
    contacts = search.contacts_search(
        Contact.objects.select_related("account", "owner").prefetch_related("tags"), q
    )
    if tag.strip():
        contacts = contacts.filter(tagged_with(tag))
    if conditions:
        contacts = contacts.filter(custom_fields.conditions_q(conditions, fields or {}))
    order = ordering or (
        search.CONTACT_RESULT_ORDER if search.normalize_query(q) else ("last_name", "first_name", "id")
    )
    if account is not None:
        contacts = contacts.filter(account=account)
    if owner is not None:
        contacts = contacts.filter(owner=owner)
    if consent:
        contacts = contacts.filter(sms_consent=consent)
    if clv_tier:
        contacts = contacts.filter(clv_tier="" if clv_tier == "none" else clv_tier)
    return contacts.order_by(*order)


@dataclass
class ContactDetail:
    contact: Contact
    orders: list
    events: list
    tasks: list[Task]
    deals: list[Deal]
    timeline: list[Activity]
    orders_total: Decimal = ZERO
    orders_count: int = 0
    custom: list = field(default_factory=list)  # custom_fields.Shown, in order
    other_attributes: dict = field(default_factory=dict)
    tags: list = field(default_factory=list)


def contact_detail(contact_id: int, *, recent: int = 20) -> ContactDetail | None:
    contact = Contact.objects.select_related("account", "owner").filter(pk=contact_id).first()
    if contact is None:
        return None
    custom, other = custom_fields.present(
        contact.attributes, custom_fields.definitions(CustomFieldObject.CONTACT)
    )
    order_totals = contact.orders.aggregate(
        total=Coalesce(Sum("amount"), ZERO, output_field=MONEY), count=Count("id")
    )
    return ContactDetail(
        contact=contact,
        orders=list(contact.orders.all()[:recent]),
        events=list(contact.events.all()[:recent]),
        tasks=list(contact.tasks.select_related("owner").order_by("status", *DUE_FIRST)[:recent]),
        deals=list(contact.deals.select_related("stage", "owner")),
        timeline=timeline_for_contact(contact),
        orders_total=order_totals["total"],
        orders_count=order_totals["count"],
        custom=custom,
        other_attributes=other,
        tags=list(contact.tags.all()),
    )


# --- Deals ----------------------------------------------------------------------------------


@dataclass
class BoardColumn:
    stage: PipelineStage
    deals: list[Deal] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((deal.amount for deal in self.deals), ZERO)

    @property
    def weighted_total(self) -> Decimal:
        return (self.total * self.stage.probability / Decimal(100)).quantize(Decimal("0.01"))


@dataclass
class Board:
    stages: list[PipelineStage]
    columns: list[BoardColumn]
    closed_days: int

    @property
    def open_total(self) -> Decimal:
        return sum((c.total for c in self.columns if not c.stage.is_closed), ZERO)

    @property
    def open_weighted_total(self) -> Decimal:
        return sum((c.weighted_total for c in self.columns if not c.stage.is_closed), ZERO)


def deals_on_board(*, owner=None, kind: str = "") -> QuerySet[Deal]:
    """Open deals, plus deals closed in the last ``BOARD_CLOSED_DAYS`` days."""
    since = timezone.now() - timedelta(days=BOARD_CLOSED_DAYS)
    deals = Deal.objects.select_related("account", "owner", "stage").filter(
        Q(stage__is_closed=False) | Q(closed_at__gte=since)
    )
    if owner is not None:
        deals = deals.filter(owner=owner)
    if kind:
        deals = deals.filter(kind=kind)
    return deals


def deal_board(*, owner=None, kind: str = "") -> Board:
    """Open deals by stage, plus deals closed in the last ``BOARD_CLOSED_DAYS`` days."""
    stages = list(PipelineStage.objects.all())
    deals = deals_on_board(owner=owner, kind=kind)
    columns = {stage.pk: BoardColumn(stage=stage) for stage in stages}
    for deal in deals.order_by(F("next_step_date").asc(nulls_last=True), "-amount", "id"):
        columns[deal.stage_id].deals.append(deal)
    return Board(stages=stages, columns=list(columns.values()), closed_days=BOARD_CLOSED_DAYS)


# --- Renewals -------------------------------------------------------------------------------


def renewal_due_list(*, within_days: int | None, status: str = "", account=None) -> QuerySet[Renewal]:
    """Renewals by end date. With ``within_days``, those ending by then; past terms only while
    still undecided (overdue decisions stay visible until someone records them)."""
    today = timezone.localdate()
    renewals = Renewal.objects.select_related("account", "account__owner")
    if within_days is not None:
        renewals = renewals.filter(end_date__lte=today + timedelta(days=within_days)).filter(
            Q(end_date__gte=today) | Q(status=RenewalStatus.UPCOMING)
        )
    if status:
        renewals = renewals.filter(status=status)
    if account is not None:
        renewals = renewals.filter(account=account)
    return renewals.order_by("end_date", "id")


def days_until(day: date) -> int:
    return (day - timezone.localdate()).days


# --- Tasks ----------------------------------------------------------------------------------


class TaskOwner:
    """Whose tasks a task list shows, besides one user's id."""

    MINE = "me"
    EVERYONE = "all"
    UNASSIGNED = "none"


class TaskDue:
    OVERDUE = "overdue"
    TODAY = "today"
    WEEK = "week"
    choices = [("", "Any time"), (OVERDUE, "Overdue"), (TODAY, "Due today"), (WEEK, "Due in 7 days")]


def tasks_for(user, *, show: str = "open") -> QuerySet[Task]:
    return task_list(owner=user, show=show)


def task_list(*, owner=None, everyone: bool = False, show: str = "open", due: str = "") -> QuerySet[Task]:
    """Open tasks, overdue first then by due date (undated last); or done ones, latest first.
    ``owner`` a user, or None with ``everyone`` False: the unassigned tasks."""
    tasks = Task.objects.select_related("account", "contact", "owner")
    if not everyone:
        tasks = tasks.filter(owner=owner)
    if show == "done":
        return tasks.filter(status=TaskStatus.DONE).order_by("-completed_at", "-id")
    tasks = tasks.filter(status=TaskStatus.OPEN)
    now = timezone.now()
    if due == TaskDue.OVERDUE:
        tasks = tasks.filter(due_at__lt=now)
    elif due == TaskDue.TODAY:
        end_of_day = timezone.localtime(now).replace(hour=23, minute=59, second=59, microsecond=999999)
        tasks = tasks.filter(due_at__lte=end_of_day)
    elif due == TaskDue.WEEK:
        tasks = tasks.filter(due_at__lte=now + timedelta(days=7))
    return tasks.order_by(*DUE_FIRST)
