"""MMS attachments: Twilio's limits, checked before anything is stored or sent; inbound media
recorded from the webhook's parameters; outbound attachments stored by us and handed to Twilio
through signed URLs that expire; inbound media fetched from Twilio with the account's credentials
for people signed in here."""

from collections.abc import Sequence
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse

from core.errors import DomainError
from sms.models import Message, MessageMedia

# Twilio: at most 10 media per message and 5 MB in all; these types are delivered to handsets
# (images are resized for carriers), a PDF as a file.
MAX_MEDIA = 10
MAX_TOTAL_BYTES = 5 * 1024 * 1024
# type -> the first bytes of such a file (a renamed .exe is not a PDF)
ALLOWED_TYPES = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
SIGNING_SALT = "sms.media"
# Credentials go to Twilio's own media hosts only, never to a URL a webhook merely named.
TWILIO_MEDIA_HOSTS = ("api.twilio.com",)


class MediaRefused(DomainError):
    code = "media_invalid"
    status = 400


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def attachment_type(upload: UploadedFile) -> str:
    """The type the file's own bytes show, if Twilio accepts it; else MediaRefused."""
    head = upload.read(16)
    upload.seek(0)
    for content_type, signatures in ALLOWED_TYPES.items():
        if any(head.startswith(signature) for signature in signatures):
            return content_type
    raise MediaRefused(
        f"“{upload.name}” is not a type Twilio delivers by MMS: attach a JPEG, PNG or GIF image or a PDF.",
        code="media_type",
    )


def attachments_check(uploads: Sequence[UploadedFile]) -> list[str]:
    """Twilio's limits for files we will send: count, types and total size. Returns the types."""
    if len(uploads) > MAX_MEDIA:
        raise MediaRefused(f"At most {MAX_MEDIA} attachments per text.", code="media_count")
    total = sum(upload.size for upload in uploads)
    if total > MAX_TOTAL_BYTES:
        raise MediaRefused(
            f"The attachments are {_mb(total)}; Twilio's limit is {_mb(MAX_TOTAL_BYTES)} per text.",
            code="media_too_large",
        )
    return [attachment_type(upload) for upload in uploads]


def media_urls_check(urls: Sequence[str]) -> list[str]:
    if len(urls) > MAX_MEDIA:
        raise MediaRefused(f"At most {MAX_MEDIA} media URLs per text.", code="media_count")
    for url in urls:
        if urlsplit(url).scheme != "https":
            raise MediaRefused(f"Media URLs must be https: {url}", code="media_url")
    return list(urls)


def media_attach(*, message: Message, urls: Sequence[str] = (), uploads: Sequence[UploadedFile] = ()) -> None:
    """Store a text's outbound media (already checked) in one insert."""
    types = attachments_check(uploads) if uploads else []
    rows = [
        MessageMedia(message=message, position=i, content_type="", source_url=url)
        for i, url in enumerate(urls)
    ]
    for offset, (upload, content_type) in enumerate(zip(uploads, types, strict=True)):
        row = MessageMedia(
            message=message, position=len(urls) + offset, content_type=content_type, size=upload.size
        )
        row.file.save(upload.name, upload, save=False)
        rows.append(row)
    if rows:
        MessageMedia.objects.bulk_create(rows)
        Message.objects.filter(pk=message.pk).update(media_count=len(rows))
        message.media_count = len(rows)


def inbound_media(params) -> list[tuple[str, str]]:
    """(url, content type) of each medium in a Twilio inbound webhook: ``NumMedia``,
    ``MediaUrlN``, ``MediaContentTypeN``. Malformed parameters raise MediaRefused (400)."""
    raw = params.get("NumMedia", "0") or "0"
    try:
        count = int(raw)
    except ValueError:
        raise MediaRefused(f"NumMedia must be a number, not {raw!r}.", code="num_media") from None
    if not 0 <= count <= MAX_MEDIA:
        raise MediaRefused(f"NumMedia must be between 0 and {MAX_MEDIA}, not {count}.", code="num_media")
    media = []
    for index in range(count):
        url = params.get(f"MediaUrl{index}", "")
        content_type = params.get(f"MediaContentType{index}", "")
        if urlsplit(url).scheme != "https" or not content_type or len(url) > 2000:
            raise MediaRefused(
                f"MediaUrl{index} must be an https URL with its MediaContentType{index}.", code="media_url"
            )
        media.append((url, content_type[:100]))
    return media


def media_store_inbound(*, message: Message, media: Sequence[tuple[str, str]]) -> None:
    if not media:
        return
    MessageMedia.objects.bulk_create(
        MessageMedia(message=message, position=i, source_url=url, content_type=content_type)
        for i, (url, content_type) in enumerate(media)
    )
    Message.objects.filter(pk=message.pk).update(media_count=len(media))
    message.media_count = len(media)


def media_keep(*, media: MessageMedia, content: bytes) -> None:
    """Keep our own copy of an inbound medium (Twilio's copy may be deleted); from then on it is
    served from our storage."""
    extension = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "application/pdf": ".pdf"}
    name = f"inbound-{media.message_id}-{media.position}{extension.get(media.content_type, '')}"
    media.file.save(name, ContentFile(content), save=False)
    media.size = len(content)
    media.save(update_fields=["file", "size"])


# --- URLs -----------------------------------------------------------------------------------


def media_view_url(media: MessageMedia) -> str:
    """Where people open it: our authenticated URL."""
    return reverse("sms_media", args=[media.pk])


def media_signed_url(media: MessageMedia) -> str:
    """Where Twilio fetches a file we stored: absolute, signed, valid MMS_MEDIA_URL_MAX_AGE."""
    token = signing.TimestampSigner(salt=SIGNING_SALT).sign(str(media.pk)).split(":", 1)[1]
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("sms_media_signed", args=[media.pk, token])


def media_signed_check(media_id: int, token: str) -> bool:
    try:
        signing.TimestampSigner(salt=SIGNING_SALT).unsign(
            f"{media_id}:{token}", max_age=settings.MMS_MEDIA_URL_MAX_AGE
        )
    except signing.BadSignature:  # includes SignatureExpired
        return False
    return True


def media_urls_for_provider(message: Message) -> list[str]:
    """The URLs the provider fetches for this text (none without a query for a plain SMS)."""
    if not message.media_count:
        return []
    return [media_signed_url(m) if m.file else m.source_url for m in message.media.all()]


def media_fetch(media: MessageMedia) -> requests.Response:
    """Inbound media from Twilio, with the account's credentials (Twilio may require them)."""
    parts = urlsplit(media.source_url)
    auth = None
    if parts.scheme == "https" and parts.hostname in TWILIO_MEDIA_HOSTS:
        auth = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    return requests.get(media.source_url, auth=auth, timeout=10, stream=True)
