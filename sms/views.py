"""The SMS panel on the contact page: consent with its history, the thread, and a send box."""

import requests
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError, html_domain_errors
from core.ratelimit import client_address, window_hit
from crm.models import Contact
from sms import links, media, quiet_hours
from sms.models import (
    ConsentEvent,
    ConsentSource,
    Direction,
    Message,
    MessageKind,
    MessageMedia,
    MessageStatus,
)
from sms.segments import GSM7_BASIC, GSM7_EXTENDED, MAX_BODY_CHARS
from sms.services.consent import (
    ConsentError,
    TextingState,
    consent_record,
    contact_texting,
    in_reply_window,
)
from sms.services.review import review_pending_for
from sms.services.scheduling import message_cancel, message_reschedule, message_schedule
from sms.services.sending import message_send

THREAD_LENGTH = 30


# A browser's datetime-local value, read in the user's zone (UserTimezoneMiddleware).
LOCAL_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


class SendForm(forms.Form):
    body = forms.CharField(max_length=MAX_BODY_CHARS, widget=forms.Textarea(attrs={"rows": 3}))
    send_at = forms.DateTimeField(required=False, input_formats=LOCAL_INPUT_FORMATS, label="Send at")


class RescheduleForm(forms.Form):
    body = forms.CharField(max_length=MAX_BODY_CHARS, required=False, strip=True)
    send_at = forms.DateTimeField(required=False, input_formats=LOCAL_INPUT_FORMATS)


class ConsentForm(forms.Form):
    action = forms.ChoiceField(choices=[("opt_in", "Opt in"), ("opt_out", "Opt out")])
    note = forms.CharField(
        max_length=500,
        required=False,
        help_text="How the customer agreed (required for an opt-in), e.g. “asked on the call of May 3”.",
    )

    def clean(self):
        data = super().clean()
        if data.get("action") == "opt_in" and not data.get("note", "").strip():
            self.add_error("note", "Say how the customer agreed: an opt-in needs proof.")
        return data


def _thread(contact: Contact) -> list[Message]:
    latest = list(
        Message.objects.filter(contact=contact)
        .select_related("sent_by")
        .prefetch_related("media")
        .order_by("-created_at", "-id")[:THREAD_LENGTH]
    )
    return latest[::-1]


def _reply_kind(contact: Contact) -> str:
    """Answering a text the customer sent recently is a reply in their conversation (the same
    window the send service allows replies in)."""
    return MessageKind.REPLY if in_reply_window(contact) else MessageKind.MANUAL


CANNOT_TEXT = {
    "consent:opted_out": "This contact has opted out of texts.",
    "consent:under_review": (
        "A reply from this number is held for review as a possible opt-out: no texts until an agent "
        "decides in the inbox (where one clarification may be sent within five minutes of the reply)."
    ),
    "consent:not_opted_in": "This contact has not opted in. Record their opt-in (with proof) before texting.",
}


def _can_text(contact: Contact, kind: str, texting: TextingState) -> tuple[bool, str]:
    """Whether the send box is open, and if not why: the effective texting state (stored
    consent, the number's suppression, a pending review), judged by the rule the send paths
    use. ``kind`` is a reply only when the customer texted recently (``_reply_kind``)."""
    if not contact.phone:
        return False, "This contact has no phone number."
    if reason := texting.refusal(kind, replying=lambda: True):
        return False, CANNOT_TEXT[reason]
    return True, ""


def _thread_context(contact: Contact) -> dict:
    thread = _thread(contact)
    return {"contact": contact, "thread": thread, "pending": any(not m.is_final for m in thread)}


def _panel(request, contact, *, send_form=None, consent_form=None, send_error="", status=200):
    kind = _reply_kind(contact)
    texting = contact_texting(contact)
    can_text, cannot_reason = _can_text(contact, kind, texting)
    context = {
        **_thread_context(contact),
        "send_form": send_form or SendForm(),
        "consent_form": consent_form or ConsentForm(),
        "send_error": send_error,
        "can_text": can_text,
        "texting": texting,
        "review": review_pending_for(contact.phone) if texting.review_since else None,
        "cannot_reason": cannot_reason,
        "is_reply": kind == MessageKind.REPLY,
        "scheduled": list(
            Message.objects.filter(contact=contact, status=MessageStatus.SCHEDULED).order_by("send_at", "id")
        ),
        "back_url": contact.get_absolute_url(),
        "now_local": f"{timezone.localtime():%Y-%m-%dT%H:%M}",
        "consent_history": ConsentEvent.objects.filter(contact=contact).select_related("actor")[:10],
        "gsm_basic": "".join(sorted(GSM7_BASIC)),
        "gsm_extended": "".join(sorted(GSM7_EXTENDED)),
        "max_chars": MAX_BODY_CHARS,
    }
    return render(request, "sms/contact_panel.html", context, status=status)


def contact_panel(request: HttpRequest, pk: int) -> HttpResponse:
    return _panel(request, get_object_or_404(Contact.objects.select_related("account"), pk=pk))


def contact_thread(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    return render(request, "sms/partials/thread.html", _thread_context(contact))


def _done(request: HttpRequest, contact: Contact) -> HttpResponse:
    if request.htmx:
        return _panel(request, contact)
    return redirect(contact)


def _send_refused(request: HttpRequest, error: DomainError, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact.objects.select_related("account"), pk=pk)
    return _panel(request, contact, send_form=SendForm(request.POST), send_error=error.message)


@require_POST
@html_domain_errors(_send_refused)
def contact_send(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact.objects.select_related("account"), pk=pk)
    form = SendForm(request.POST)
    if not form.is_valid():
        return _panel(request, contact, send_form=form, status=400)
    if request.POST.get("schedule"):
        if form.cleaned_data["send_at"] is None:
            form.add_error("send_at", "Choose when to send it.")
            return _panel(request, contact, send_form=form, status=400)
        message = message_schedule(
            contact=contact,
            body=form.cleaned_data["body"],
            send_at=form.cleaned_data["send_at"],
            sent_by=request.user,
        )
        when = timezone.localtime(message.send_at)
        messages.info(request, f"Scheduled for {when:%b %-d, %H:%M} {when.tzname()}.")
        return _done(request, contact)
    message = message_send(
        contact=contact,
        body=form.cleaned_data["body"],
        kind=_reply_kind(contact),
        sent_by=request.user,
        clarifying=True,  # a person typing: possibly the one clarification a held reply allows
    )
    if quiet_hours.is_window_reason(message.deferred_reason):
        local = timezone.localtime(message.next_attempt_at, quiet_hours.contact_tz(contact))
        law = "" if message.deferred_reason == quiet_hours.QUIET_HOURS else " (their state's law)"
        messages.info(
            request, f"Quiet hours{law} for {contact}: the text goes out at {local:%a %H:%M} their time."
        )
    return _done(request, contact)


@require_POST
def contact_consent(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact.objects.select_related("account"), pk=pk)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        return _panel(request, contact, consent_form=form, status=400)
    note = form.cleaned_data["note"].strip()
    try:
        consent_record(
            contact=contact,
            action=form.cleaned_data["action"],
            source=ConsentSource.AGENT,
            proof={"note": note} if note else {},
            actor=request.user,
        )
    except ConsentError as refused:
        # e.g. the number texted STOP: an agent's note cannot re-subscribe it.
        form.add_error("note", refused.message)
        return _panel(request, contact, consent_form=form, status=400)
    contact.refresh_from_db()
    return _done(request, contact)


def _back(request: HttpRequest, message: Message) -> HttpResponse:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(message.contact) if message.contact_id else redirect("inbox")


def _scheduled_refused(request: HttpRequest, error: DomainError, message_id: int) -> HttpResponse:
    messages.error(request, error.message)
    return _back(request, get_object_or_404(Message, pk=message_id))


@require_POST
@html_domain_errors(_scheduled_refused)
def scheduled_cancel(request: HttpRequest, message_id: int) -> HttpResponse:
    message = get_object_or_404(Message, pk=message_id)
    message_cancel(message=message)
    messages.success(request, "The scheduled text was canceled.")
    return _back(request, message)


@require_POST
@html_domain_errors(_scheduled_refused)
def scheduled_edit(request: HttpRequest, message_id: int) -> HttpResponse:
    message = get_object_or_404(Message, pk=message_id)
    form = RescheduleForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return _back(request, message)
    message = message_reschedule(
        message=message, body=form.cleaned_data["body"] or None, send_at=form.cleaned_data["send_at"]
    )
    when = timezone.localtime(message.send_at)
    messages.success(request, f"The scheduled text goes {when:%b %-d, %H:%M} {when.tzname()}.")
    return _back(request, message)


@require_GET
def media_view(request: HttpRequest, media_id: int) -> HttpResponse:
    """An MMS attachment for someone signed in: our stored file, inbound media fetched from
    Twilio with the account's credentials, or (an API caller's own URL) a redirect to it."""
    item = get_object_or_404(MessageMedia, pk=media_id)
    if item.file:
        return FileResponse(item.file.open("rb"), content_type=item.content_type)
    if item.message.direction == Direction.OUTBOUND:
        return HttpResponseRedirect(item.source_url)
    try:
        upstream = media.media_fetch(item)
    except requests.RequestException:
        return HttpResponse(
            "Twilio did not answer for this media; try again.", status=502, content_type="text/plain"
        )
    if upstream.status_code != 200:
        upstream.close()
        return HttpResponse(
            f"Twilio answered {upstream.status_code} for this media.", status=502, content_type="text/plain"
        )
    response = StreamingHttpResponse(
        upstream.iter_content(64 * 1024),
        content_type=item.content_type or upstream.headers.get("Content-Type"),
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_not_required
@require_GET
def media_signed(request: HttpRequest, media_id: int, token: str) -> HttpResponse:
    """A file we stored, for Twilio to fetch while it sends: signed, expiring, no login."""
    if not media.media_signed_check(media_id, token):
        return HttpResponse(
            "This media link is invalid or has expired.", status=403, content_type="text/plain"
        )
    item = get_object_or_404(MessageMedia, pk=media_id)
    if not item.file:
        raise Http404("No stored file.")
    return FileResponse(item.file.open("rb"), content_type=item.content_type)


@login_not_required
@require_GET
def follow_link(request: HttpRequest, code: str) -> HttpResponse:
    """Public: a tracked link from a text. Redirects only to URLs stored by the product.
    Each client address may follow LINK_CLICKS_PER_MINUTE links a minute; past it, 429."""
    counted = window_hit(f"link:{client_address(request)}", limit=settings.LINK_CLICKS_PER_MINUTE, period=60)
    if not counted.allowed:
        response = HttpResponse(
            "Too many requests; try again shortly.", status=429, content_type="text/plain"
        )
        response["Retry-After"] = str(counted.reset_in)
        return response
    link = links.link_click(code=code, user_agent=request.headers.get("User-Agent", ""))
    if link is None:
        raise Http404("This link does not exist.")
    return HttpResponseRedirect(link.target_url)
