"""SMS: the consent ledger, conversations and messages."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from crm.models import Contact
from sms.business_days import BUSINESS_TZ
from sms.quiet_hours import is_window_reason


class ConsentAction(models.TextChoices):
    OPT_IN = "opt_in", "Opt-in"
    OPT_OUT = "opt_out", "Opt-out"


class ConsentSource(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    KEYWORD = "keyword", "Keyword reply"
    # A reply a reasonable person reads as "stop" in other words ("remove me", "no más"):
    # recorded at once like a keyword; an agent may reverse a misread, with a reason.
    REPLY_WORDS = "reply_words", "Reply in plain words"
    API = "api", "API"
    IMPORT = "import", "Import"
    AGENT = "agent", "Agent"
    PROVIDER_ERROR = "provider_error", "Provider error"


class ConsentEvent(models.Model):
    """Append-only ledger of consent. A contact's current state is its latest event; the
    phone is kept so the record stands even if the contact is later deleted or renumbered."""

    contact = models.ForeignKey(Contact, null=True, on_delete=models.SET_NULL, related_name="consent_events")
    phone = models.CharField(max_length=20, blank=True, help_text="E.164 number the consent is for.")
    action = models.CharField(max_length=16, choices=ConsentAction.choices)
    scope = models.CharField(max_length=32, default="sms", help_text="What was consented to.")
    source = models.CharField(max_length=20, choices=ConsentSource.choices)
    proof = models.JSONField(
        default=dict,
        blank=True,
        help_text="Evidence: disclosure text, URL, IP address, the keyword message, error code.",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-occurred_at", "-id"]),
            models.Index(fields=["phone", "-occurred_at", "-id"], name="sms_consent_phone_latest"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_action_display()} via {self.get_source_display()} @ {self.occurred_at:%Y-%m-%d %H:%M}"
        )

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Consent events are append-only.")
        super().save(*args, **kwargs)


# Opt-outs that only the person can undo: their own STOP, their own reply in plain words, or the
# carrier saying they unsubscribed (Twilio 21610). Only the webhook and delivery paths record
# these sources. The one exception: an agent's audited reversal of a plain-words reply misread as
# a revocation (``sms.inbox.services.conversation_reverse_opt_out``), never of a keyword.
PERSON_ONLY_SOURCES = frozenset(
    {ConsentSource.KEYWORD, ConsentSource.PROVIDER_ERROR, ConsentSource.REPLY_WORDS}
)


class PhoneSuppression(models.Model):
    """A number whose latest consent event is an opt-out: consent belongs to the number, so
    this row outlives the contact (deletion, merge, renumbering) and any contact that gets the
    number starts opted out. Written only by ``sms.services.consent``; a valid later opt-in
    removes it (the ledger keeps the history)."""

    phone = models.CharField(max_length=20, unique=True, help_text="E.164 number that opted out.")
    since = models.DateTimeField(help_text="When the latest opt-out of this number happened.")
    source = models.CharField(
        max_length=20,
        choices=ConsentSource.choices,
        help_text="Keyword or provider: only the person can re-subscribe (a START text or a later form).",
    )
    event = models.ForeignKey(ConsentEvent, null=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.phone} opted out via {self.get_source_display().lower()} @ {self.since:%Y-%m-%d %H:%M}"

    @property
    def person_only(self) -> bool:
        return self.source in PERSON_ONLY_SOURCES


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Held for review"
    CONFIRMED = "confirmed", "Confirmed opt-out"
    NOT_REVOCATION = "not_revocation", "Not a revocation"
    EXPIRED = "expired", "Expired: treated as an opt-out"
    SUPERSEDED = "superseded", "Superseded by an opt-out"


class RevocationReview(models.Model):
    """A reply that may be a revocation but did not read as one decisively (the classifier saw
    an opt-out, no revocation rule matched): held for an agent. While ``pending`` it blocks
    every text to the number but the keyword confirmations and one clarification within five
    minutes (``sms.services.suppression``, the read every send path uses); it is due
    ``due_at`` (10 US business days after it arrived), escalated before, and treated as an
    opt-out if nobody decides by then (``sms.services.review``)."""

    phone = models.CharField(max_length=20, help_text="E.164 number the reply came from.")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="revocation_reviews"
    )
    message = models.ForeignKey("Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.PENDING, db_index=True
    )
    why = models.CharField(max_length=300, help_text="Why the reply is in doubt (the classifier's reading).")
    received_at = models.DateTimeField(help_text="When the reply arrived: texts are blocked from then.")
    due_at = models.DateTimeField(help_text="10 US business days after it arrived.")
    remind_at = models.DateTimeField(help_text="When the owner is asked to decide (2 business days left).")
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the manager was told it expired."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_reason = models.TextField(blank=True)
    consent_event = models.ForeignKey(
        ConsentEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["phone", "status"]), models.Index(fields=["status", "due_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["phone"],
                condition=models.Q(status="pending"),
                name="sms_review_one_pending_per_number",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phone} {self.get_status_display().lower()} (due {self.due_at:%Y-%m-%d})"

    @property
    def is_pending(self) -> bool:
        return self.status == ReviewStatus.PENDING

    @property
    def decide_by(self):
        """The last day to decide, on the US Eastern calendar (``due_at`` is the midnight that
        ends it)."""
        return (self.due_at.astimezone(BUSINESS_TZ) - timedelta(microseconds=1)).date()


class Intent(models.TextChoices):
    HELP = "help", "Help request"
    DEFERRAL = "deferral", "Deferral (not now)"
    PRICING = "pricing", "Pricing / upgrade interest"
    MEETING = "meeting", "Meeting request"
    OPT_OUT = "opt_out", "Opt-out in plain words"
    POSITIVE = "positive", "Positive"
    OTHER = "other", "Other"


class IntentRule(models.Model):
    """One classification rule, editable in the admin. The matching rule with the highest
    confidence wins (ties: lower position first)."""

    intent = models.CharField(max_length=16, choices=Intent.choices)
    pattern = models.CharField(
        max_length=500, help_text="A regular expression, matched case-insensitively anywhere in the reply."
    )
    confidence = models.FloatField(
        default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)], help_text="0 to 1."
    )
    position = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    # With the number of rules, what tells a classifier process that its cached rules are stale
    # (``sms.inbox.intents.active_rules``): change rules with save(), as the admin does.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.get_intent_display()}: /{self.pattern}/ ({self.confidence:.2f})"

    def clean(self) -> None:
        from sms.inbox.patterns import pattern_problem  # the pattern rules live with the matcher

        problem = pattern_problem(self.pattern)
        if problem:
            raise ValidationError({"pattern": problem})


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open"
    SNOOZED = "snoozed", "Snoozed"
    CLOSED = "closed", "Closed"


class Conversation(models.Model):
    """One SMS thread per contact, reopened by each inbound message."""

    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="conversation")
    status = models.CharField(
        max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.OPEN, db_index=True
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    intent = models.CharField(max_length=16, choices=Intent.choices, blank=True, db_index=True)
    intent_confidence = models.FloatField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    awaiting_since = models.DateTimeField(
        null=True, blank=True, help_text="The oldest inbound message nobody has answered yet."
    )
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    last_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_outbound_at = models.DateTimeField(null=True, blank=True)
    last_message = models.ForeignKey(
        "Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Latest message in the thread, for the inbox list.",
    )
    sla_breached_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The reply deadline that was recorded as breached (and escalated); set once per deadline.",
    )
    escalated_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The manager told of the latest breach.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_inbound_at", "-id"]
        indexes = [models.Index(fields=["status", "assignee", "sla_due_at"])]

    def __str__(self) -> str:
        return f"Conversation with {self.contact}"


class ConversationRead(models.Model):
    """When a user last read a conversation. It is unread for them while a reply came in after
    ``read_at`` (or they never read it); "mark unread" deletes the row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reads")
    read_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="conversation_read_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} read {self.conversation_id} at {self.read_at:%Y-%m-%d %H:%M}"


class Direction(models.TextChoices):
    OUTBOUND = "outbound", "Outbound"
    INBOUND = "inbound", "Inbound"


class MessageStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    CANCELED = "canceled", "Canceled"
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"
    RECEIVED = "received", "Received"


# A status only ever moves to a higher rank; the three outcomes are final.
STATUS_RANK = {
    # A scheduled text becomes queued when its time comes (every check as of then), or canceled.
    MessageStatus.SCHEDULED: -1,
    MessageStatus.CANCELED: 3,
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.UNDELIVERED: 3,
    MessageStatus.FAILED: 3,
    MessageStatus.RECEIVED: 3,
}
FINAL_STATUSES = {s for s, rank in STATUS_RANK.items() if rank == 3}


class MessageKind(models.TextChoices):
    MANUAL = "manual", "Sent by a person"
    AUTOMATED = "automated", "Automated (play)"
    REPLY = "reply", "Reply in a conversation"
    COMPLIANCE = "compliance", "Keyword confirmation"
    INBOUND = "inbound", "Inbound"


class Message(models.Model):
    # Looked up through the (contact, -created_at) index; a second index on contact alone only
    # cost every insert (a play queues 10^4 texts at once).
    contact = models.ForeignKey(
        Contact, null=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    kind = models.CharField(max_length=16, choices=MessageKind.choices, default=MessageKind.MANUAL)
    source = models.CharField(
        max_length=40,
        blank=True,
        db_index=True,
        help_text="What sent it, e.g. 'play:12' (cooldowns count these).",
    )
    body = models.TextField()
    body_truncated = models.BooleanField(
        default=False,
        help_text="An inbound text longer than Twilio's 1,600 characters: the first 1,600 are kept.",
    )
    to_number = models.CharField(max_length=64)
    from_number = models.CharField(max_length=64, blank=True)
    # Indexed by (status, next_attempt_at) below, which serves lookups by status alone too.
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    provider = models.CharField(max_length=16, blank=True)
    provider_sid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    segments = models.PositiveSmallIntegerField(default=1)
    encoding = models.CharField(max_length=8, default="GSM-7")
    # "<caller>:<client key>" from the API (token:<id> or user:<id>), or an internal key.
    idempotency_key = models.CharField(max_length=300, null=True, blank=True, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Queued messages are sent from this time on (quiet hours, retries)."
    )
    send_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="For a scheduled text: when it goes, through every check as of then.",
    )
    deferred_reason = models.CharField(max_length=100, blank=True)
    media_count = models.PositiveSmallIntegerField(
        default=0, help_text="Attachments (MMS); delivery looks them up only when there are some."
    )
    intent = models.CharField(max_length=16, choices=Intent.choices, blank=True)
    intent_confidence = models.FloatField(null=True, blank=True)
    intent_rule = models.ForeignKey(
        IntentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    response_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="For a reply: seconds since the customer's oldest unanswered message.",
    )
    sla_met = models.BooleanField(
        null=True,
        blank=True,
        help_text="For a reply to a conversation that had a reply deadline: whether it was answered in time.",
    )
    enqueued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a delivery task was last put on the queue (sweeper bookkeeping).",
    )
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker claimed it for sending."
    )
    verify_before_send = models.BooleanField(
        default=False,
        help_text="An earlier attempt may have reached the provider: look it up there before sending again.",
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Now by default; an inbound text replayed with its received time keeps that time.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    status_updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-created_at"]),
            # The sweeper's query: due queued messages.
            models.Index(fields=["status", "next_attempt_at"]),
            # The scheduler's query: due scheduled texts (few rows, so a partial index).
            models.Index(
                fields=["send_at"], condition=models.Q(status="scheduled"), name="sms_message_scheduled_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.get_status_display()}: {self.body[:40]}"

    is_note = False  # in a thread beside private notes

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_scheduled(self) -> bool:
        return self.status == MessageStatus.SCHEDULED

    @property
    def waits_for_window(self) -> bool:
        """Queued for a send window: the configured quiet hours or a state's."""
        return self.status == MessageStatus.QUEUED and is_window_reason(self.deferred_reason)


class StatusCallback(models.Model):
    """Provider status callbacks already applied, so a repeat is recognised (SID + status)."""

    provider_sid = models.CharField(max_length=64)
    status = models.CharField(max_length=32)
    error_code = models.CharField(max_length=16, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider_sid", "status"], name="sms_statuscallback_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider_sid} {self.status}"


class SenderPace(models.Model):
    """Shared pacing state for one sender, so every worker on every host respects its rate."""

    sender = models.CharField(max_length=64, unique=True)
    next_free_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.sender


class IntentLabel(models.Model):
    """An agent's relabel of an inbound message, kept to measure the classifier."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="intent_labels")
    predicted = models.CharField(max_length=16, choices=Intent.choices, blank=True)
    intent = models.CharField(max_length=16, choices=Intent.choices)
    labelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    labelled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-labelled_at", "-id"]

    def __str__(self) -> str:
        return f"{self.predicted or '—'} → {self.intent}"


class Deferral(models.Model):
    """The customer asked us to wait: automated texts to the contact pause until ``until``."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="deferrals")
    until = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=300, blank=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-until"]
        indexes = [models.Index(fields=["contact", "until"])]

    def __str__(self) -> str:
        return f"{self.contact} deferred until {self.until:%Y-%m-%d}"


class SavedReply(models.Model):
    """A reply template. Placeholders: {first_name}, {last_name}, {account}, {owner}, {agent}."""

    name = models.CharField(max_length=100, unique=True)
    body = models.TextField()
    position = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "saved replies"

    def __str__(self) -> str:
        return self.name


class ShortLink(models.Model):
    """A tracked link on our own domain (/l/<code>) that redirects to ``target_url``. Only URLs
    the product stored here are ever redirected to."""

    code = models.CharField(max_length=16, unique=True)
    target_url = models.URLField(max_length=2000)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="short_links"
    )
    source = models.CharField(max_length=40, blank=True, db_index=True, help_text="e.g. 'play:12'.")
    created_at = models.DateTimeField(auto_now_add=True)
    click_count = models.PositiveIntegerField(default=0)
    first_clicked_at = models.DateTimeField(null=True, blank=True)
    timeline_clicked_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The last click put on the timeline; claimed by a conditional update, so of "
        "concurrent clicks exactly one is.",
    )

    def __str__(self) -> str:
        return f"/l/{self.code} -> {self.target_url}"


class LinkClick(models.Model):
    link = models.ForeignKey(ShortLink, on_delete=models.CASCADE, related_name="clicks")
    clicked_at = models.DateTimeField(auto_now_add=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-clicked_at"]

    def __str__(self) -> str:
        return f"{self.link.code} @ {self.clicked_at:%Y-%m-%d %H:%M}"


class MessageMedia(models.Model):
    """One MMS attachment. Inbound: Twilio's media URL (fetched with the account's credentials
    when someone opens it). Outbound: a file we stored (served to Twilio through a signed,
    expiring URL) or an https URL the API caller gave. People see it only through our
    authenticated URL."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="media")
    position = models.PositiveSmallIntegerField(default=0)
    content_type = models.CharField(max_length=100)
    source_url = models.URLField(max_length=2000, blank=True)
    file = models.FileField(upload_to="mms/%Y/%m/", blank=True)
    size = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["message", "position", "id"]

    def __str__(self) -> str:
        return f"{self.content_type} #{self.position} of message {self.message_id}"

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class ConversationNote(models.Model):
    """A private note in a thread: visible to the team, never sent, on the timeline."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "-created_at"])]

    is_note = True  # in a thread beside messages

    def __str__(self) -> str:
        return f"Note by {self.author}: {self.body[:40]}"


class NotificationKind(models.TextChoices):
    ASSIGNED = "assigned", "Conversation assigned to you"
    REPLY = "reply", "New reply in your conversation"
    SLA_DUE_SOON = "sla_due_soon", "Reply due within 15 minutes"
    SLA_BREACHED = "sla_breached", "Reply deadline missed"
    ESCALATED = "escalated", "Escalated to you"


class Notification(models.Model):
    """Something a user should know, in the app (the bell) and by email when they opted in.
    ``key`` names the occurrence (the conversation and the deadline or message it is about),
    so the sweep and a retried webhook never tell anyone twice."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    text = models.CharField(max_length=300)
    key = models.CharField(max_length=120)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    email_wanted = models.BooleanField(default=False, help_text="The recipient asked for email.")
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Created or read (what a client syncing the bell sees change): `notifications/?updated_after=`.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "key"], name="sms_notification_once"),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at"]),
            models.Index(
                fields=["recipient"], condition=models.Q(read_at__isnull=True), name="sms_notification_unread"
            ),
            models.Index(
                fields=["id"],
                condition=models.Q(email_wanted=True, emailed_at__isnull=True),
                name="sms_notification_email_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient}: {self.text[:40]}"
