"""Development provider: logs the text and plays back a delivery status a moment later."""

import logging
import uuid
from collections.abc import Sequence

from sms.providers import Provider, SendResult

logger = logging.getLogger("sms.console")

CONSOLE_FROM = "+15005550006"  # Twilio's magic test number, never a real line


class ConsoleProvider(Provider):
    name = "console"

    def __init__(self):
        self._broker = None

    def _playback_broker(self):
        # One broker per provider (a process has one provider): django-q's default is a new
        # broker, and with Redis a new connection, for every task.
        if self._broker is None:
            from django_q.brokers import get_broker

            self._broker = get_broker()
        return self._broker

    @property
    def sender(self) -> str:
        return CONSOLE_FROM

    def send(
        self, *, to: str, body: str, status_callback: str | None, media_urls: Sequence[str] = ()
    ) -> SendResult:
        sid = "SM" + uuid.uuid4().hex
        logger.info(
            "SMS to %s (%s): %s%s", to, sid, body, f" + media {list(media_urls)}" if media_urls else ""
        )
        from django_q.tasks import async_task

        async_task(
            "sms.tasks.console_delivery_playback",
            sid,
            to,
            task_name=f"playback-{sid}",
            broker=self._playback_broker(),
            # Not kept in the task results: one per text would evict every other task's result
            # from the save_limit window, and pruning it costs the monitor a scan per task.
            save=False,
        )
        return SendResult(sid=sid, from_number=CONSOLE_FROM)

    def find_sent(self, *, to: str, body: str, since) -> SendResult | None:
        return None  # the console never half-sends
