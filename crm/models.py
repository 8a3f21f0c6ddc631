"""CRM core: who the customers are, what they bought, what they did, and what we did."""

import functools
import hashlib
import secrets
import zoneinfo
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone


@functools.cache
def _timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value and value not in _timezone_names():
        raise ValidationError(f"{value!r} is not an IANA timezone (for example America/Chicago).")


class TimestampedModel(models.Model):
    # Now by default; a replayed history (the demo, an inbound text with its received time)
    # may say when a row came to be, which auto_now_add would overwrite.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class User(AbstractUser):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MANAGER = "manager", "Manager"
        AGENT = "agent", "Agent"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    takes_conversations = models.BooleanField(
        default=True, help_text="Receives unowned SMS conversations in the inbox round-robin."
    )
    manager = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
        help_text="Who hears of this user's escalations (SLA breaches, journey escalations).",
    )
    timezone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="IANA time zone for times shown to this user; blank means the team's (TIME_ZONE).",
    )
    notify_by_email = models.BooleanField(
        default=False,
        help_text="Also email this user their notifications (assignments, replies, SLA alerts, escalations).",
    )
    # When the user's record last changed (not their sign-ins): `users/?updated_after=`.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The zone this user reads times in: their own, else the team's (TIME_ZONE)."""
        name = self.timezone if self.timezone in _timezone_names() else settings.TIME_ZONE
        return zoneinfo.ZoneInfo(name)


class ApiToken(models.Model):
    """An integration key. Only a SHA-256 of the key is stored; the key is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="API token")
    prefix = models.CharField(max_length=8, help_text="First characters of the key, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, *, user, name: str = "API token") -> tuple["ApiToken", str]:
        key = secrets.token_hex(20)
        token = cls.objects.create(user=user, name=name, prefix=key[:8], key_hash=cls.hash_key(key))
        return token, key

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        """Revoke once; a second call keeps the first revocation time."""
        now = timezone.now()
        if ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=now):
            self.revoked_at = now


class LifecycleStage(models.TextChoices):
    ONBOARDING = "onboarding", "Onboarding"
    ADOPTING = "adopting", "Adopting"
    ACTIVE = "active", "Active"
    RENEWAL_WINDOW = "renewal_window", "Renewal window"
    EXPANSION = "expansion", "Expansion"
    AT_RISK = "at_risk", "At risk"
    CHURNED = "churned", "Churned"


class HealthBand(models.TextChoices):
    GOOD = "good", "Healthy"
    WATCH = "watch", "Watch"
    AT_RISK = "at_risk", "At risk"


class HealthSource(models.TextChoices):
    MODEL = "model", "Model trained on this team's history"
    RULES = "rules", "Rules (too little history for a model)"


class ClvTier(models.TextChoices):
    HIGH = "high", "High"
    MID = "mid", "Mid"
    LOW = "low", "Low"


class AcquisitionChannel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"
    PAID = "paid", "Paid"
    REFERRAL = "referral", "Referral"
    ORGANIC = "organic", "Organic"
    OTHER = "other", "Other"


class Account(TimestampedModel):
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
        help_text="Customer success manager.",
    )
    ae = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ae_accounts",
        verbose_name="account executive",
    )
    plan = models.CharField(max_length=50, blank=True, db_index=True)
    seats = models.PositiveIntegerField(default=0)
    lifecycle_stage = models.CharField(
        max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.ONBOARDING, db_index=True
    )
    lifecycle_stage_override = models.CharField(
        max_length=20,
        choices=LifecycleStage.choices,
        blank=True,
        help_text="A stage set by hand: it sticks (the derived stage does not replace it) until cleared.",
    )
    lifecycle_stage_reason = models.CharField(
        max_length=255, blank=True, help_text="Why the account is in its stage (the rule that placed it)."
    )
    lifecycle_stage_derived_at = models.DateTimeField(null=True, blank=True)
    # Health / churn risk (B2B): written by the scoring job, never by hand.
    churn_risk = models.FloatField(
        null=True, blank=True, help_text="Probability of churn at the next renewal, 0-1."
    )
    health_band = models.CharField(max_length=16, choices=HealthBand.choices, blank=True, db_index=True)
    health_factors = models.JSONField(
        default=list, blank=True, help_text="The top factors behind the score, strongest first."
    )
    health_source = models.CharField(max_length=8, choices=HealthSource.choices, blank=True)
    health_scored_at = models.DateTimeField(null=True, blank=True)
    signed_up_at = models.DateTimeField(default=timezone.now, db_index=True, help_text="Cohort key.")
    churned_at = models.DateTimeField(null=True, blank=True)
    acquisition_channel = models.CharField(
        max_length=16, choices=AcquisitionChannel.choices, default=AcquisitionChannel.OTHER
    )
    acquisition_cost = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Customer acquisition cost (CAC).",
    )
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(Lower("name"), name="crm_account_name_lower")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("account_detail", args=[self.pk])


class SmsConsent(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"


class Contact(TimestampedModel):
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(null=True, blank=True, help_text="Stored lowercased; unique.")
    phone_raw = models.CharField(max_length=64, blank=True, help_text="The number as typed.")
    phone = models.CharField(
        max_length=20, null=True, blank=True, unique=True, help_text="E.164, derived from phone_raw."
    )
    phone_valid = models.BooleanField(default=False)
    external_id = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="The contact's id in another system; imports match on it.",
    )
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_contacts",
    )
    acquisition_channel = models.CharField(
        max_length=16, choices=AcquisitionChannel.choices, default=AcquisitionChannel.OTHER
    )
    sms_consent = models.CharField(
        max_length=16,
        choices=SmsConsent.choices,
        default=SmsConsent.UNKNOWN,
        db_index=True,
        help_text="Derived from the consent ledger; never edited directly.",
    )
    # CLV (B2C order customers): BG/NBD + Gamma-Gamma, written nightly by the scoring job.
    clv_p_alive = models.FloatField(null=True, blank=True, help_text="P(alive), 0-1.")
    clv_expected_12m = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Expected value in the next 12 months.",
    )
    clv_tier = models.CharField(max_length=8, choices=ClvTier.choices, blank=True, db_index=True)
    clv_scored_at = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField("Tag", through="ContactTag", blank=True, related_name="contacts")

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="crm_contact_email_ci_unique"),
        ]
        # The lists' order: a page of 50 is read from the index instead of sorting every
        # contact (90 ms at 100,000 contacts, bench scenario 5).
        indexes = [
            models.Index(fields=["last_name", "first_name", "id"], name="crm_contact_name_order"),
            # The list sorted by "Added" (either way) reads a page from here.
            models.Index(fields=["created_at", "id"], name="crm_contact_created_order"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.phone or f"Contact {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("contact_detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class PipelineStage(models.Model):
    """A configurable deal stage. Probability drives weighted pipeline."""

    name = models.CharField(max_length=60)
    slug = models.SlugField(max_length=60, unique=True)
    position = models.PositiveSmallIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(100)], help_text="Win probability in percent."
    )
    is_closed = models.BooleanField(default=False)
    is_won = models.BooleanField(default=False)
    is_late = models.BooleanField(
        default=False, help_text="Late stage: automated texts hold off while a deal sits here."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.is_won and not self.is_closed:
            raise ValidationError({"is_won": "A won stage must also be closed."})


class DealKind(models.TextChoices):
    NEW = "new", "New business"
    EXPANSION = "expansion", "Expansion"
    RENEWAL = "renewal", "Renewal"


class Deal(TimestampedModel):
    name = models.CharField(max_length=200)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="deals")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    kind = models.CharField(max_length=16, choices=DealKind.choices, default=DealKind.NEW)
    stage = models.ForeignKey(PipelineStage, on_delete=models.PROTECT, related_name="deals")
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    next_step = models.CharField(max_length=200, blank=True)
    next_step_date = models.DateField(null=True, blank=True)
    expected_close = models.DateField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["stage", "account"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("deal_edit", args=[self.pk])

    @property
    def weighted_amount(self) -> Decimal:
        return (self.amount * self.stage.probability / Decimal(100)).quantize(Decimal("0.01"))


class RenewalStatus(models.TextChoices):
    UPCOMING = "upcoming", "Upcoming"
    RENEWED = "renewed", "Renewed"
    EXPANDED = "expanded", "Expanded"
    DOWNGRADED = "downgraded", "Downgraded"
    CHURNED = "churned", "Churned"


class Renewal(TimestampedModel):
    """One contract term. Its outcome is decided when the term ends."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="renewals")
    start_date = models.DateField()
    end_date = models.DateField(db_index=True)
    acv = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Annual contract value of this term.",
    )
    status = models.CharField(
        max_length=16, choices=RenewalStatus.choices, default=RenewalStatus.UPCOMING, db_index=True
    )
    renewed_acv = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="ACV of the next term once decided.",
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["end_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__gt=models.F("start_date")),
                name="crm_renewal_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} term ending {self.end_date:%Y-%m-%d}"

    def clean(self) -> None:
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            raise ValidationError({"end_date": "The term must end after it starts."})
        decided = self.status != RenewalStatus.UPCOMING
        if self.status == RenewalStatus.CHURNED and self.renewed_acv not in (None, Decimal("0")):
            raise ValidationError({"renewed_acv": "A churned term has no renewed ACV."})
        if decided and self.status != RenewalStatus.CHURNED and self.renewed_acv is None:
            raise ValidationError({"renewed_acv": "Enter the renewed ACV for a decided renewal."})

    def window_opens_on(self, days: int):
        return self.end_date - timedelta(days=days)


class Order(TimestampedModel):
    # Revenue history keeps its customer: a contact or account with orders cannot be deleted
    # (merge or re-assign the orders first).
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    gross_margin = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("-1")), MaxValueValidator(Decimal("1"))],
        help_text="Gross margin as a fraction of amount (0.62 = 62%).",
    )
    ordered_at = models.DateTimeField(db_index=True)
    attribution = models.CharField(
        max_length=200, blank=True, help_text="What drove the order, e.g. an SMS short link."
    )
    external_id = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="Idempotency key from the source system.",
    )

    class Meta:
        ordering = ["-ordered_at", "-id"]
        # Covering indexes (PostgreSQL INCLUDE; plain indexes on SQLite): analytics reads a
        # customer's orders in a time window, or all orders in customer order, from the index
        # alone. At a million orders the heap reads behind these scans were most of the time of
        # play lift's window revenue and of the first-order cohorts (bench scenario 4).
        indexes = [
            models.Index(
                fields=["contact", "ordered_at"], include=["amount", "account"], name="crm_order_contact_time"
            ),
            models.Index(fields=["account", "ordered_at"], include=["amount"], name="crm_order_account_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(contact__isnull=False) | models.Q(account__isnull=False),
                name="crm_order_has_customer",
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.external_id or self.pk} ({self.amount})"


class Event(models.Model):
    """A product-usage or lifecycle signal, usually from an integration."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    name = models.CharField(max_length=100)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["name", "occurred_at"]),
            models.Index(fields=["account", "name", "occurred_at"]),
            models.Index(fields=["contact", "name", "occurred_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(contact__isnull=False) | models.Q(account__isnull=False),
                name="crm_event_has_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class TaskSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    PLAY = "play", "Play"
    REPLY = "reply", "Reply"


class Task(TimestampedModel):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    status = models.CharField(
        max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN, db_index=True
    )
    source = models.CharField(max_length=16, choices=TaskSource.choices, default=TaskSource.MANUAL)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["status", "due_at", "id"]
        indexes = [models.Index(fields=["owner", "status", "due_at"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return self.status == TaskStatus.OPEN and self.due_at is not None and self.due_at < timezone.now()


class ActivityKind(models.TextChoices):
    SMS_SENT = "sms_sent", "SMS sent"
    SMS_DELIVERED = "sms_delivered", "SMS delivered"
    SMS_FAILED = "sms_failed", "SMS failed"
    SMS_REPLY = "sms_reply", "SMS reply"
    SMS_CLICK = "sms_click", "SMS link click"
    SMS_OPT_OUT = "sms_opt_out", "SMS opt-out"
    SMS_OPT_IN = "sms_opt_in", "SMS opt-in"
    EMAIL = "email", "Email"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    NOTE = "note", "Note"
    DEAL_STAGE_CHANGE = "deal_stage_change", "Deal stage change"
    RENEWAL_DECISION = "renewal_decision", "Renewal decision"
    TASK_CREATED = "task_created", "Task created"
    INBOX_ACTION = "inbox_action", "Inbox action"
    CONTACT_MERGED = "contact_merged", "Contacts merged"
    ACCOUNT_MERGED = "account_merged", "Accounts merged"
    RECORD_IMPORTED = "record_imported", "Changed by an import"
    TAGS_CHANGED = "tags_changed", "Tags changed"


# Touches that other channels report through the API (and people log by hand).
MANUAL_ACTIVITY_KINDS = (ActivityKind.EMAIL, ActivityKind.CALL, ActivityKind.MEETING, ActivityKind.NOTE)


class Activity(models.Model):
    """The append-only timeline of a contact and its account. Written only by
    ``crm.services.activity_record``."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    kind = models.CharField(max_length=32, choices=ActivityKind.choices, db_index=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        indexes = [
            models.Index(fields=["contact", "-occurred_at"]),
            models.Index(fields=["account", "-occurred_at"]),
            models.Index(fields=["kind", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class SavedView(TimestampedModel):
    """A list as someone set it up (filters, sort, columns: the list's query string), kept by
    name; shared views are offered to the whole team."""

    class ListName(models.TextChoices):
        CONTACTS = "contacts", "Contacts"
        ACCOUNTS = "accounts", "Accounts"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    list_name = models.CharField(max_length=16, choices=ListName.choices)
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000, blank=True, help_text="The list's query string.")
    shared = models.BooleanField(default=False, help_text="Offered to the whole team.")

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "list_name", "name"], name="crm_savedview_name_once"),
        ]
        indexes = [models.Index(fields=["list_name", "owner"]), models.Index(fields=["list_name", "shared"])]

    def __str__(self) -> str:
        return self.name


class CustomFieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    YES_NO = "yes_no", "Yes / no"
    CHOICE = "choice", "Choice (one of a list)"
    MULTI_CHOICE = "multi_choice", "Multiple choice"


class CustomFieldObject(models.TextChoices):
    ACCOUNT = "account", "Accounts"
    CONTACT = "contact", "Contacts"


class CustomField(TimestampedModel):
    """A field the team defined for accounts or contacts. Its values live in the records'
    ``attributes`` under ``key`` (so imported attributes with that key show up typed);
    ``crm.custom_fields`` reads, checks and filters them."""

    object_type = models.CharField(max_length=16, choices=CustomFieldObject.choices)
    key = models.CharField(
        max_length=50, help_text="Where values live in attributes: lowercase letters, digits and _."
    )
    label = models.CharField(max_length=80)
    field_type = models.CharField(
        max_length=16, choices=CustomFieldType.choices, default=CustomFieldType.TEXT
    )
    choices = models.JSONField(
        default=list, blank=True, help_text="For choice types: [[value, label], ...] in display order."
    )
    help_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    show_in_list = models.BooleanField(default=False, help_text="Shown as a column on the list.")

    class Meta:
        ordering = ["object_type", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["object_type", "key"], name="crm_customfield_key_once"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def choice_labels(self) -> dict[str, str]:
        return dict(self.choices or [])


class Tag(models.Model):
    """A label on contacts (``vip``, ``beta``), unique whatever the case."""

    name = models.CharField(max_length=50)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(Lower("name"), name="crm_tag_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class ContactTag(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="contact_links")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "tag"], name="crm_contacttag_once")]
        # Filtering the list by tag reads the contacts of a tag from here.
        indexes = [models.Index(fields=["tag", "contact"], name="crm_contacttag_tag_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id}:{self.tag_id}"


# --- Imports --------------------------------------------------------------------------------


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Mapping columns"
    PLANNING = "planning", "Dry run in progress"
    PLANNED = "planned", "Dry run ready"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportPhase(models.TextChoices):
    PLAN = "plan", "Dry run"
    RUN = "run", "Import"


class ImportJob(TimestampedModel):
    """One CSV import: the file, its column mapping, and the progress and outcome of its dry run
    and its run. The kinds that can be imported are listed in settings.IMPORT_KINDS."""

    kind = models.CharField(max_length=32)
    file_name = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField(default=0)
    encoding = models.CharField(max_length=32, default="utf-8")
    delimiter = models.CharField(max_length=1, default=",")
    header = models.JSONField(default=list, blank=True, help_text="Column names, in file order.")
    mapping = models.JSONField(default=dict, blank=True, help_text="Column name -> field it fills.")
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.UPLOADED, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Progress of the phase in hand: the dry run or the run.
    dry_run = models.BooleanField(default=True, help_text="The phase in hand is the dry run.")
    bytes_done = models.PositiveBigIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    # Lines up to here are written and counted: a task that ran out of time, or died, resumes after.
    resume_after_line = models.PositiveIntegerField(default=0)
    # A worker holds the job until this time; another may take over once it has passed.
    lease_until = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="Rows by outcome in the phase in hand.")
    plan_counts = models.JSONField(default=dict, blank=True, help_text="Rows by outcome in the dry run.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the job stopped, when it failed as a whole.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import of {self.kind} from {self.file_name}"

    def get_absolute_url(self) -> str:
        return reverse("import_detail", args=[self.pk])

    @property
    def phase(self) -> str:
        return ImportPhase.PLAN if self.dry_run else ImportPhase.RUN

    @property
    def is_working(self) -> bool:
        return self.status in (ImportStatus.PLANNING, ImportStatus.RUNNING)

    @property
    def percent_done(self) -> int:
        if self.status in (ImportStatus.PLANNED, ImportStatus.DONE):
            return 100
        if not self.file_size:
            return 0
        return min(99, int(100 * self.bytes_done / self.file_size))


class ImportFileChunk(models.Model):
    """The uploaded file, in pieces, in the database: any worker on any host can read it as a
    stream without shared disk, and it goes away with its job."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="crm_importfilechunk_once")]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.position}"


class ImportAction(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    UNCHANGED = "unchanged", "Unchanged"
    SKIP = "skip", "Skip"


class ImportRowOutcome(models.Model):
    """What the dry run planned for a row (every row), or what the run did with a row that had a
    problem (skipped, or imported with warnings): the row-by-row table and the error report."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="outcomes")
    phase = models.CharField(max_length=8, choices=ImportPhase.choices)
    line = models.PositiveIntegerField(help_text="Line in the file (the header is line 1).")
    action = models.CharField(max_length=16, choices=ImportAction.choices)
    key = models.CharField(max_length=300, blank=True, help_text="What identifies the row.")
    reason = models.TextField(blank=True, help_text="Why this action; for a skipped row, the error.")
    warnings = models.TextField(blank=True)
    record_id = models.BigIntegerField(null=True, blank=True)
    cells = models.JSONField(default=list, blank=True, help_text="The row as read, for rows with a problem.")
    changes = models.JSONField(
        default=list, blank=True, help_text="An update's [field, old, new] per changed field, as shown."
    )

    class Meta:
        ordering = ["job", "phase", "line"]
        indexes = [
            models.Index(fields=["job", "phase", "line"]),
            models.Index(fields=["job", "phase", "action"]),
        ]

    def __str__(self) -> str:
        return f"line {self.line}: {self.action}"

    @property
    def has_problem(self) -> bool:
        return self.action == ImportAction.SKIP or bool(self.warnings)
