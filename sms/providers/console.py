"""Development provider: logs the text and plays back a delivery status a moment later."""

import logging
import uuid

from sms.providers import Provider, SendResult

logger = logging.getLogger("sms.console")

CONSOLE_FROM = "+15005550006"  # Twilio's magic test number, never a real line


class ConsoleProvider(Provider):
    name = "console"

    @property
    def sender(self) -> str:
        return CONSOLE_FROM

    def send(self, *, to: str, body: str, status_callback: str | None) -> SendResult:
        sid = "SM" + uuid.uuid4().hex
        logger.info("SMS to %s (%s): %s", to, sid, body)
        from django_q.tasks import async_task

        async_task("sms.tasks.console_delivery_playback", sid, to, task_name=f"playback-{sid}")
        return SendResult(sid=sid, from_number=CONSOLE_FROM)

    def find_sent(self, *, to: str, body: str, since) -> SendResult | None:
        return None  # the console never half-sends
