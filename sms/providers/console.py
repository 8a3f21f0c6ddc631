"""Development provider: logs the text and plays back a delivery status a moment later. Like a
real provider it keeps what it accepted (a JSON line per text, one file per recipient, under
SMS_CONSOLE_OUTBOX_DIR, written before ``send`` returns), so ``find_sent`` can look a text up
and a worker killed between a send and its record does not send it twice in development either."""

import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from django.conf import settings

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

    @staticmethod
    def _outbox(to: str) -> Path:
        folder = Path(settings.SMS_CONSOLE_OUTBOX_DIR)
        return folder / f"{hashlib.sha256(to.encode()).hexdigest()[:32]}.jsonl"

    def send(
        self, *, to: str, body: str, status_callback: str | None, media_urls: Sequence[str] = ()
    ) -> SendResult:
        sid = "SM" + uuid.uuid4().hex
        outbox = self._outbox(to)
        outbox.parent.mkdir(parents=True, exist_ok=True)
        accepted = {
            "sid": sid,
            "to": to,
            "body": body,
            "media_urls": list(media_urls),
            "at": datetime.now().astimezone().isoformat(),
        }
        with outbox.open("a", encoding="utf-8") as log:  # closed (in the OS) before we answer
            log.write(json.dumps(accepted) + "\n")
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

    def find_sent(self, *, to: str, body: str, since: datetime) -> SendResult | None:
        try:
            lines = self._outbox(to).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return None
        for line in reversed(lines):
            try:
                accepted = json.loads(line)
            except ValueError:
                continue  # a line cut short when the process died mid-write
            if accepted["body"] == body and datetime.fromisoformat(accepted["at"]) >= since:
                return SendResult(sid=accepted["sid"], from_number=CONSOLE_FROM)
        return None
