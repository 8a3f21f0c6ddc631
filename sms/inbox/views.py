"""The reply inbox page: the queue, the open thread and the customer's context side by side.

Reads go through ``sms.inbox.selectors``; every action goes through ``sms.inbox.services`` with the
agent as actor, so the timeline says who did what. htmx requests get the three panes back
(plus the URL to show); plain form posts are redirected, so the page works without JS."""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import replace_url

from core.errors import DomainError, html_domain_errors
from crm.models import SmsConsent
from sms.inbox import selectors, services
from sms.inbox.replies import saved_replies_for
from sms.inbox.selectors import UNCLASSIFIED, QueueView
from sms.models import Conversation, ConversationStatus, Intent, Message, MessageStatus
from sms.segments import GSM7_BASIC, GSM7_EXTENDED, MAX_BODY_CHARS
from sms.services import review as reviews
from sms.services.consent import contact_texting
from sms.services.review import review_pending_for
from sms.services.scheduling import message_schedule

# A browser's datetime-local value, read in the agent's zone (UserTimezoneMiddleware).
LOCAL_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]

PAGE_SIZE = 50
# Intent names short enough for a queue row (the full name is the badge's title).
INTENT_SHORT = {
    Intent.HELP: "Help",
    Intent.DEFERRAL: "Not now",
    Intent.PRICING: "Pricing",
    Intent.MEETING: "Meeting",
    Intent.OPT_OUT: "Opt-out",
    Intent.POSITIVE: "Positive",
    Intent.OTHER: "Other",
}
FILTER_KEYS = ("view", "intent", "status", "unread", "q", "page")
SOON = timedelta(minutes=15)  # an SLA this close is shown as urgent
SNOOZE_PRESETS = {"1h": "1 hour", "tomorrow": "Tomorrow", "next_week": "Next week"}
POLL_QUEUE_SECONDS = 5
POLL_THREAD_SECONDS = 3


# --- Forms ------------------------------------------------------------------------------


class QueueFilterForm(forms.Form):
    view = forms.ChoiceField(choices=QueueView.choices, required=False)
    intent = forms.ChoiceField(
        choices=[("", "Any intent"), *INTENT_SHORT.items(), (UNCLASSIFIED, "Unclassified")], required=False
    )
    status = forms.ChoiceField(choices=ConversationStatus.choices, required=False)
    unread = forms.ChoiceField(choices=[("1", "Unread")], required=False)
    q = forms.CharField(max_length=200, required=False, label="Search")
    page = forms.IntegerField(min_value=1, required=False)


class ReplyForm(forms.Form):
    body = forms.CharField(max_length=MAX_BODY_CHARS, strip=True, required=False)
    send_at = forms.DateTimeField(required=False, input_formats=LOCAL_INPUT_FORMATS, label="Send at")
    attachment = forms.FileField(required=False, help_text="An image (JPEG, PNG, GIF) or a PDF, up to 5 MB.")

    def clean(self):
        data = super().clean()
        # A photo or a PDF may go alone (an MMS without text); a note always needs its words.
        if "body" in data and not data["body"] and not data.get("attachment"):
            self.add_error("body", "Write a reply, or attach a file.")
        return data


def scheduled_texts(contact_id: int) -> list[Message]:
    """Texts to this contact still waiting for their time (editable and cancellable)."""
    return list(
        Message.objects.filter(contact_id=contact_id, status=MessageStatus.SCHEDULED)
        .select_related("sent_by")
        .order_by("send_at", "id")
    )


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        empty_label="Unassigned",
        error_messages={"invalid_choice": "Choose an active user."},
    )


class SnoozeForm(forms.Form):
    preset = forms.ChoiceField(choices=list(SNOOZE_PRESETS.items()), required=False)
    until = forms.DateTimeField(
        required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"], label="Until"
    )

    def __init__(self, *args, now: datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now

    def clean(self):
        data = super().clean()
        preset, until = data.get("preset"), data.get("until")
        if preset:
            data["until"] = snooze_preset_until(preset, self.now)
        elif until is None:
            if not self.errors:
                self.add_error("until", "Pick a time to snooze until.")
        elif until <= self.now:
            self.add_error("until", "Snooze until a time in the future.")
        return data


class RelabelForm(forms.Form):
    intent = forms.ChoiceField(choices=Intent.choices)


def snooze_preset_until(preset: str, now: datetime) -> datetime:
    """1 hour from now; tomorrow at the start of business; next Monday at the start of
    business. Days and hours are the team's (INBOX_TIMEZONE)."""
    if preset == "1h":
        return now + timedelta(hours=1)
    tz = services.team_tz()
    today = timezone.localtime(now, tz).date()
    day = today + timedelta(days=1) if preset == "tomorrow" else today + timedelta(days=7 - today.weekday())
    return datetime.combine(day, time(settings.INBOX_BUSINESS_HOURS_START), tzinfo=tz)


# --- Filters in the query string ----------------------------------------------------------


@dataclass(frozen=True)
class InboxFilters:
    """The queue's filters as the URL gives them; every link and form keeps them."""

    view: str
    intent: str
    status: str
    q: str
    page: int | None
    given: dict = field(default_factory=dict)
    unread: bool = False

    def query(self, **changes) -> str:
        params = {**self.given, **changes}
        return urlencode({key: value for key, value in params.items() if value not in ("", None)})

    def url(self, **changes) -> str:
        query = self.query(**changes)
        return reverse("inbox") + (f"?{query}" if query else "")

    def page_url(self, conversation_id: int | None = None) -> str:
        return self.url(conversation=conversation_id)


def inbox_filters(request: HttpRequest, params: QueryDict | None = None) -> InboxFilters:
    form = QueueFilterForm(request.GET if params is None else params)
    form.is_valid()  # invalid values are ignored: cleaned_data keeps only the valid ones
    data = form.cleaned_data
    given = {key: data[key] for key in FILTER_KEYS if data.get(key) not in (None, "")}
    return InboxFilters(
        view=data.get("view") or selectors.default_view(request.user),
        intent=data.get("intent") or "",
        status=data.get("status") or ConversationStatus.OPEN,
        q=(data.get("q") or "").strip(),
        page=data.get("page"),
        given=given,
        unread=data.get("unread") == "1",
    )


def _id(value) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


# --- Display helpers ------------------------------------------------------------------------


def compact_duration(delta: timedelta) -> str:
    """45m, 3h 20m, 2d."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours}h {rest}m" if rest else f"{hours}h"
    return f"{minutes // (24 * 60)}d"


@dataclass(frozen=True)
class SlaBadge:
    state: str  # breached | soon | due
    label: str
    title: str


def sla_badge(conversation: Conversation, now: datetime) -> SlaBadge | None:
    due = conversation.sla_due_at
    if due is None or conversation.status != ConversationStatus.OPEN:
        return None
    local = timezone.localtime(due)  # the reader's zone (UserTimezoneMiddleware)
    title = f"Answer by {local:%b %-d, %H:%M} {local.tzname()}"
    if due <= now:
        return SlaBadge("breached", f"Breached {compact_duration(now - due)}", title)
    state = "soon" if due - now <= SOON else "due"
    return SlaBadge(state, f"Due in {compact_duration(due - now)}", title)


def short_time(moment: datetime | None, now: datetime) -> str:
    """14:05 today (or within the last 12 hours), Mon within the week, Mar 3 before that."""
    if moment is None:
        return ""
    local, today = timezone.localtime(moment), timezone.localtime(now).date()
    if local.date() == today or now - moment < timedelta(hours=12):
        return f"{local:%H:%M}"
    if today - local.date() < timedelta(days=6):
        return f"{local:%a}"
    return f"{local:%b} {local.day}"


# --- Rendering ------------------------------------------------------------------------------


def _next_after(ids: list[int], selected_id: int | None) -> int | None:
    """Where to go when the selected conversation leaves the list (resolve, snooze): the row
    below it, else the row above, else nowhere."""
    if selected_id not in ids:
        return None
    position = ids.index(selected_id)
    if position + 1 < len(ids):
        return ids[position + 1]
    return ids[position - 1] if position > 0 else None


def _queue_context(request: HttpRequest, filters: InboxFilters, selected_id: int | None) -> dict:
    now = timezone.now()
    queue = selectors.conversation_queue(
        user=request.user,
        view=filters.view,
        intent=filters.intent,
        status=filters.status,
        q=filters.q,
        unread=filters.unread,
        selected_id=selected_id,
    )
    page_obj = Paginator(queue, PAGE_SIZE).get_page(filters.page)
    rows = list(page_obj.object_list)
    for row in rows:
        row.sla = sla_badge(row, now)
        row.last_at = row.last_message.created_at if row.last_message else row.last_inbound_at
        row.when = short_time(row.last_at, now)
        row.inbox_url = filters.page_url(row.pk)
        row.is_selected = row.pk == selected_id
        row.intent_short = INTENT_SHORT.get(row.intent, row.intent)
        if row.is_selected and row.unread:  # a reply came in while it is open (the polled list)
            services.conversation_mark_read(conversation=row, user=request.user, now=now)
            row.unread = False
    counts = selectors.queue_counts(
        user=request.user, intent=filters.intent, status=filters.status, q=filters.q, unread=filters.unread
    )
    return {
        "filters": filters,
        "rows": rows,
        "page_obj": page_obj,
        "counts": counts,
        "views": [
            (value, label, counts[value], filters.url(view=value, page=None, conversation=selected_id))
            for value, label in QueueView.choices
        ],
        "prev_url": (
            filters.url(page=page_obj.previous_page_number(), conversation=selected_id)
            if page_obj.has_previous()
            else ""
        ),
        "next_url": (
            filters.url(page=page_obj.next_page_number(), conversation=selected_id)
            if page_obj.has_next()
            else ""
        ),
        "unread_url": filters.url(unread="" if filters.unread else "1", page=None, conversation=selected_id),
        "selected_id": selected_id,
        "next_id": _next_after([row.pk for row in rows], selected_id),
        "queue_poll_url": reverse("inbox_queue") + "?" + filters.query(conversation=selected_id),
        "poll_queue_seconds": POLL_QUEUE_SECONDS,
    }


def _thread_context(conversation: Conversation) -> dict:
    thread = selectors.conversation_thread(conversation)
    return {
        "conversation": conversation,
        "thread": thread,
        "poll_thread_seconds": POLL_THREAD_SECONDS,
    }


def _conversation_context(
    request: HttpRequest,
    conversation: Conversation,
    filters: InboxFilters,
    *,
    reply_form: ReplyForm | None,
    reply_error: str,
    replied: bool,
    action_error: str,
    snooze_form: SnoozeForm | None,
) -> dict:
    contact = conversation.contact
    now = timezone.now()
    query = filters.query()
    texting = contact_texting(contact)
    opted_out = texting.effective == SmsConsent.OPTED_OUT
    review = review_pending_for(contact.phone) if texting.review_since else None
    return {
        **_thread_context(conversation),
        "context": selectors.conversation_context(conversation),
        "revocation": selectors.conversation_revocation(conversation),
        "review": review,
        "conversation_sla": sla_badge(conversation, now),
        "action_query": f"?{query}" if query else "",
        "reply_form": reply_form or ReplyForm(),
        "reply_error": reply_error,
        "replied": replied,
        # Under review the box stays open for the one clarification; the send service decides.
        "can_reply": bool(contact.phone) and not opted_out,
        "cannot_reply": (
            f"{contact} has opted out of texts: replies are blocked."
            if opted_out
            else ("" if contact.phone else f"{contact} has no phone number.")
        ),
        "action_error": action_error,
        "snooze_form": snooze_form,
        "snooze_presets": [
            (key, label, timezone.localtime(snooze_preset_until(key, now)))
            for key, label in SNOOZE_PRESETS.items()
        ],
        "snooze_min": f"{timezone.localtime(now):%Y-%m-%dT%H:%M}",
        "scheduled": scheduled_texts(contact.pk),
        "back_url": filters.page_url(conversation.pk),
        "team_timezone": timezone.get_current_timezone_name(),
        "saved_replies": saved_replies_for(contact=contact, agent=request.user),
        "agents": selectors.agents(),
        "intents": Intent.choices,
        "gsm_basic": "".join(sorted(GSM7_BASIC)),
        "gsm_extended": "".join(sorted(GSM7_EXTENDED)),
        "max_chars": MAX_BODY_CHARS,
    }


def _render_inbox(
    request: HttpRequest,
    filters: InboxFilters,
    selected_id: int | None,
    *,
    partial: bool,
    status: int = 200,
    reply_form: ReplyForm | None = None,
    reply_error: str = "",
    replied_id: int | None = None,
    action_error: str = "",
    snooze_form: SnoozeForm | None = None,
    notice: str = "",
) -> HttpResponse:
    conversation = selectors.conversation_for_inbox(selected_id) if selected_id else None
    if conversation is not None:
        # Opening a conversation (or acting in it) reads it, before the list is drawn.
        services.conversation_mark_read(conversation=conversation, user=request.user)
    context = _queue_context(request, filters, selected_id)
    context["notice"] = notice
    context["replied_id"] = replied_id  # the drafts kept in the browser for it can go
    context["conversation"] = conversation
    if conversation is not None:
        context.update(
            _conversation_context(
                request,
                conversation,
                filters,
                reply_form=reply_form,
                reply_error=reply_error,
                replied=replied_id == conversation.pk,
                action_error=action_error,
                snooze_form=snooze_form,
            )
        )
    context["filter_form"] = QueueFilterForm(initial={"intent": filters.intent, "status": filters.status})
    template = "sms/partials/inbox_panes.html" if partial else "sms/inbox.html"
    return render(request, template, context, status=status)


def _wants_panes(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request and not request.htmx.boosted


# --- Pages and partials ---------------------------------------------------------------------


def inbox_page(request: HttpRequest) -> HttpResponse:
    """The inbox. ``?conversation=<id>`` opens a thread; the filters live in the query string."""
    filters = inbox_filters(request)
    return _render_inbox(
        request, filters, _id(request.GET.get("conversation")), partial=_wants_panes(request)
    )


def inbox_queue(request: HttpRequest) -> HttpResponse:
    """The queue list alone, for polling (the search box and selects are left alone)."""
    filters = inbox_filters(request)
    context = _queue_context(request, filters, _id(request.GET.get("conversation")))
    return render(request, "sms/partials/inbox_queue.html", context)


def inbox_messages(request: HttpRequest, pk: int) -> HttpResponse:
    """The thread's messages alone, for polling (the reply box is left alone)."""
    conversation = get_object_or_404(Conversation, pk=pk)
    return render(request, "sms/partials/inbox_messages.html", _thread_context(conversation))


# --- Actions --------------------------------------------------------------------------------


def _done(
    request: HttpRequest, filters: InboxFilters, selected_id: int | None, *, notice: str = "", **render_kwargs
):
    """After a successful action: the panes for htmx (showing the URL of what they show),
    else a redirect to the page. ``notice`` says what happened when the view moves on."""
    url = filters.page_url(selected_id)
    if request.htmx:
        response = _render_inbox(request, filters, selected_id, partial=True, notice=notice, **render_kwargs)
        return replace_url(response, url)
    if notice:
        messages.success(request, notice)
    return redirect(url)


def _failed(request: HttpRequest, filters: InboxFilters, selected_id: int, status: int, **render_kwargs):
    return _render_inbox(
        request, filters, selected_id, partial=bool(request.htmx), status=status, **render_kwargs
    )


def _then(request: HttpRequest, conversation: Conversation) -> int | None:
    """The conversation to show once this one leaves the list: the next in the queue as the
    agent saw it (sent by the page), else none."""
    then = _id(request.POST.get("then"))
    return then if then != conversation.pk else None


def _leaves_queue(filters: InboxFilters, new_status: str) -> bool:
    return filters.status != new_status


def _reply_refused(request: HttpRequest, error: DomainError, pk: int) -> HttpResponse:
    form = ReplyForm(request.POST)
    return _failed(
        request, inbox_filters(request), pk, error.status, reply_form=form, reply_error=error.message
    )


@require_POST
@html_domain_errors(_reply_refused)
def inbox_reply(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation, pk=pk)
    filters = inbox_filters(request)
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return _failed(request, filters, pk, 400, reply_form=form)
    body = form.cleaned_data["body"]
    attachments = [form.cleaned_data["attachment"]] if form.cleaned_data.get("attachment") else []
    if request.POST.get("note"):
        try:
            services.conversation_note_add(conversation=conversation, body=body, actor=request.user)
        except ValidationError as exc:
            return _failed(request, filters, pk, 400, reply_form=form, reply_error=" ".join(exc.messages))
        return _done(request, filters, pk, replied_id=pk, notice="Note added (visible to the team only).")
    if request.POST.get("schedule"):
        if form.cleaned_data["send_at"] is None:
            form.add_error("send_at", "Choose when to send it.")
            return _failed(request, filters, pk, 400, reply_form=form)
        message = message_schedule(
            contact=conversation.contact,
            body=body,
            send_at=form.cleaned_data["send_at"],
            sent_by=request.user,
            attachments=attachments,
        )
        when = timezone.localtime(message.send_at)
        notice = (
            f"Scheduled for {when:%b %-d, %H:%M} {when.tzname()}: checked for consent and quiet hours then."
        )
        return _done(request, filters, pk, replied_id=pk, notice=notice)
    services.conversation_reply(
        conversation=conversation, body=body, actor=request.user, attachments=attachments
    )
    if request.POST.get("resolve"):
        conversation.refresh_from_db()
        services.conversation_resolve(conversation=conversation, actor=request.user)
        if _leaves_queue(filters, ConversationStatus.CLOSED):
            notice = f"Sent and resolved {conversation.contact}."
            return _done(request, filters, _then(request, conversation), replied_id=pk, notice=notice)
    return _done(request, filters, pk, replied_id=pk)


@require_POST
def inbox_mark_unread(request: HttpRequest, pk: int) -> HttpResponse:
    """Keep it for later: unread again for this agent, and the thread closes (opening it reads it)."""
    conversation = get_object_or_404(Conversation.objects.select_related("contact"), pk=pk)
    services.conversation_mark_unread(conversation=conversation, user=request.user)
    return _done(request, inbox_filters(request), None, notice=f"Marked {conversation.contact} as unread.")


@require_POST
def inbox_assign(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.select_related("contact"), pk=pk)
    filters = inbox_filters(request)
    form = AssignForm(request.POST)
    if not form.is_valid():
        return _failed(request, filters, pk, 400, action_error=" ".join(form.errors["assignee"]))
    assignee = form.cleaned_data["assignee"]
    if assignee != conversation.assignee:
        services.conversation_assign(conversation=conversation, assignee=assignee, actor=request.user)
    return _done(request, filters, pk)


@require_POST
def inbox_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.select_related("contact"), pk=pk)
    filters = inbox_filters(request)
    services.conversation_resolve(conversation=conversation, actor=request.user)
    if _leaves_queue(filters, ConversationStatus.CLOSED):
        notice = f"Resolved {conversation.contact}."
        return _done(request, filters, _then(request, conversation), notice=notice)
    return _done(request, filters, pk)


@require_POST
def inbox_snooze(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.select_related("contact"), pk=pk)
    filters = inbox_filters(request)
    now = timezone.now()
    form = SnoozeForm(request.POST, now=now)  # the time typed is in the agent's zone
    if not form.is_valid():
        return _failed(request, filters, pk, 400, snooze_form=form)
    try:
        services.conversation_snooze(
            conversation=conversation, until=form.cleaned_data["until"], actor=request.user
        )
    except ValidationError as exc:
        form.add_error("until", " ".join(exc.messages))
        return _failed(request, filters, pk, 400, snooze_form=form)
    if _leaves_queue(filters, ConversationStatus.SNOOZED):
        until = timezone.localtime(form.cleaned_data["until"])
        notice = f"Snoozed {conversation.contact} until {until:%a %b %-d, %H:%M} {until.tzname()}."
        return _done(request, filters, _then(request, conversation), notice=notice)
    return _done(request, filters, pk)


@require_POST
def inbox_relabel(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.select_related("contact"), pk=pk)
    filters = inbox_filters(request)
    form = RelabelForm(request.POST)
    if not form.is_valid():
        return _failed(request, filters, pk, 400, action_error="Choose one of the intents.")
    if form.cleaned_data["intent"] != conversation.intent:
        services.conversation_relabel(
            conversation=conversation, intent=form.cleaned_data["intent"], actor=request.user
        )
    return _done(request, filters, pk)


@require_POST
def inbox_record_opt_out(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.select_related("contact"), pk=pk)
    filters = inbox_filters(request)
    services.conversation_record_opt_out(conversation=conversation, actor=request.user)
    notice = f"Recorded that {conversation.contact} opted out, and resolved the conversation."
    if _leaves_queue(filters, ConversationStatus.CLOSED):
        return _done(request, filters, _then(request, conversation), notice=notice)
    return _done(request, filters, pk, notice=notice)


def _action_refused(request: HttpRequest, error: DomainError, pk: int) -> HttpResponse:
    return _failed(request, inbox_filters(request), pk, error.status, action_error=error.message)


@require_POST
@html_domain_errors(_action_refused)
def inbox_reverse_opt_out(request: HttpRequest, pk: int) -> HttpResponse:
    """The one click that reverses a misread plain-words revocation, with the agent's reason."""
    conversation = get_object_or_404(Conversation.objects.select_related("contact"), pk=pk)
    filters = inbox_filters(request)
    services.conversation_reverse_opt_out(
        conversation=conversation, reason=request.POST.get("reason", ""), actor=request.user
    )
    return _done(
        request,
        filters,
        pk,
        notice=f"Reversed the opt-out of {conversation.contact}; it is on their timeline.",
    )


@require_POST
@html_domain_errors(_action_refused)
def inbox_review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """An agent's decision on a reply held for review: confirm the opt-out, or not a
    revocation (with a reason)."""
    conversation = get_object_or_404(Conversation.objects.select_related("contact"), pk=pk)
    filters = inbox_filters(request)
    review = review_pending_for(conversation.contact.phone)
    if review is None:
        return _failed(request, filters, pk, 409, action_error="No reply of theirs is waiting for review.")
    decided = reviews.review_decide(
        review=review,
        decision=request.POST.get("decision", ""),
        reason=request.POST.get("reason", ""),
        actor=request.user,
    )
    notice = (
        f"Recorded that {conversation.contact} opted out."
        if decided.status == "confirmed"
        else f"Texts to {conversation.contact} are no longer held; your reason is on their timeline."
    )
    return _done(request, filters, pk, notice=notice)


def home_panel(request: HttpRequest) -> HttpResponse:
    """The home page's inbox panel (settings.HOME_PAGE_PANELS): replies waiting, SLAs at risk."""
    now = timezone.now()
    waiting = selectors.replies_waiting(user=request.user, now=now)
    for conversation in waiting.oldest:
        conversation.badge = sla_badge(conversation, now)
    return render(request, "sms/partials/home_panel.html", {"waiting": waiting})
