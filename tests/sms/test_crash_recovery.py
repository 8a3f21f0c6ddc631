"""Issue 23's proof: a delivery worker killed with SIGKILL mid-batch, sending through the real
Twilio SDK to a simulated Twilio on 127.0.0.1, loses nothing and sends nothing twice, and a
fresh worker has recovered its texts within two minutes of the kill.

The workers are real processes (``tests/sms/delivery_worker.py``) on the test's PostgreSQL
database, so the test commits (``transaction=True``) and needs PostgreSQL. The clock is the
test's: the fresh worker runs at chosen instants after the kill (the 60 s lease lapses on that
clock, not on the wall's), so the test takes seconds and does not depend on the real date."""

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from crm.models import Activity, ActivityKind, SmsConsent
from sms.models import Message, MessageStatus
from sms.services.delivery import LEASE
from sms.services.sending import DELIVERY_BATCH, message_send
from sms.tasks import RECOVERY_EVERY_SECONDS
from tests.factories import ContactFactory
from tests.sms.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.sms.twilio_simulator import SimulatedTwilio

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
TEXTS = 60  # two delivery tasks: a full batch of 50 and 10 more
KILL_AT = 37  # the worker dies waiting for Twilio's answer to this text: accepted, not recorded
RECOVERY_BOUND = timedelta(minutes=2)  # the "recovered within 2 minutes"
WAIT = 60  # seconds: the most any step of the test waits for a process


def worker_env(**provider: str) -> dict[str, str]:
    """The worker's environment: the test's database (by its test name) and Redis, if any, and
    the provider's settings."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    env = {k: v for k, v in os.environ.items() if k != "LCRM_TEST_CLOCK"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.test_settings",
            "DATABASE_URL": f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
            f"{quote(db['NAME'])}",
            "SMS_SEGMENTS_PER_SECOND": "0",
            "SMS_QUIET_HOURS_START": "0",
            "SMS_QUIET_HOURS_END": "24",
            "LOG_LEVEL": "ERROR",
            "PYTHONUNBUFFERED": "1",
            **provider,
        }
    )
    return env


def twilio_env(twilio: SimulatedTwilio) -> dict[str, str]:
    """The real Twilio provider, its SDK pointed at the simulator."""
    return worker_env(
        SMS_PROVIDER="twilio",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_MESSAGING_SERVICE_SID="MG" + "b" * 32,
        TWILIO_FROM_NUMBER="",
        TWILIO_API_BASE_URL=twilio.base_url,
    )


def start_worker(env: dict[str, str], clock: datetime, steps: list[dict]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sms.delivery_worker",
            clock.isoformat(),
            str(time.monotonic()),
            json.dumps(steps),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: killed as a whole
    )


def kill(process: subprocess.Popen) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=10)


def finish(process: subprocess.Popen) -> list[dict]:
    """Wait (bounded) for a worker to end; its printed task results."""
    try:
        out, err = process.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        kill(process)
        pytest.fail(f"the worker did not finish within {WAIT} s")
    assert process.returncode == 0, err
    return [json.loads(line) for line in out.splitlines()]


def statuses(ids) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Message.objects.filter(pk__in=ids).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_a_worker_killed_mid_batch_loses_nothing_sends_nothing_twice_and_is_recovered_in_two_minutes():
    contacts = [ContactFactory(sms_consent=SmsConsent.OPTED_IN) for _ in range(20)]
    # Three texts per number: the look-up after the crash must tell them apart by body.
    ids = [message_send(contact=contacts[i % 20], body=f"Crash test text {i}").pk for i in range(TEXTS)]
    batches = [ids[start : start + DELIVERY_BATCH] for start in range(0, TEXTS, DELIVERY_BATCH)]
    first_batch, second_batch = batches

    with SimulatedTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as twilio:
        env = twilio_env(twilio)
        twilio.hold_at(KILL_AT)
        doomed = start_worker(env, timezone.now(), [{"after": 0, "tasks": batches}])
        try:
            if not twilio.held.wait(WAIT):
                kill(doomed)
                pytest.fail(f"Twilio never got text {KILL_AT}: {doomed.communicate(timeout=10)[1][-3000:]}")
            kill(doomed)  # SIGKILL while Twilio holds the answer: accepted, never recorded
            killed_at = timezone.now()
        finally:
            kill(doomed)
            twilio.release()

        # What the dead worker left: some texts recorded, some accepted but not recorded (at
        # least the one Twilio was answering), the rest of its batch claimed and unsent, and
        # the second task's texts still queued.
        accepted_at_kill = twilio.sends_per_body()
        assert len(accepted_at_kill) == KILL_AT
        left = statuses(first_batch)
        assert 0 < left.get(MessageStatus.SENT, 0) < KILL_AT
        unrecorded = Message.objects.filter(pk__in=first_batch, status=MessageStatus.SENDING)
        assert unrecorded.count() == DELIVERY_BATCH - left[MessageStatus.SENT]
        assert unrecorded.filter(body__in=list(accepted_at_kill)).exists()
        assert statuses(second_batch) == {MessageStatus.QUEUED: len(second_batch)}

        # A fresh worker, the way production runs: the second task runs as soon as it starts,
        # while the dead worker's lease (60 s) still holds its texts; later, a new task starts
        # LEASE + the recovery interval after the kill (the latest a delivery batch takes a
        # lapsed lease back) and brings the dead worker's texts with it.
        late = message_send(contact=contacts[0], body="Queued after the crash").pk
        recovery_at = LEASE + timedelta(seconds=RECOVERY_EVERY_SECONDS)
        assert recovery_at < RECOVERY_BOUND
        fresh = start_worker(
            env,
            killed_at,
            [
                {"after": 0, "tasks": [second_batch]},
                {"after": recovery_at.total_seconds(), "tasks": [[late]]},
            ],
        )
        try:
            before_lapse, recovery = finish(fresh)
        finally:
            kill(fresh)

    assert before_lapse["results"] == {"sent": len(second_batch)}  # the lease kept its texts
    recovered = DELIVERY_BATCH - left[MessageStatus.SENT]
    assert recovery["results"] == {"sent": recovered + 1}
    assert datetime.fromisoformat(recovery["finished_at"]) - killed_at <= RECOVERY_BOUND

    everything = [*ids, late]
    assert statuses(everything) == {MessageStatus.SENT: len(everything)}  # 0 lost
    sends = twilio.sends_per_body()
    bodies = dict(Message.objects.filter(pk__in=everything).values_list("body", "provider_sid"))
    assert sends == dict.fromkeys(bodies, 1)  # 0 sent twice
    assert bodies == {text.body: text.sid for text in twilio.accepted}  # each with Twilio's SID
    looked_up = [path for method, path in twilio.requests if method == "GET"]
    assert len(looked_up) == recovered  # each recovered text was looked up before any resend
    assert Activity.objects.filter(kind=ActivityKind.SMS_SENT, contact__in=contacts).count() == len(
        everything
    )


def console_accepted(outbox: Path) -> list[dict]:
    """What the console provider accepted: its outbox lines, as it reads them itself."""
    accepted = []
    for path in outbox.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            with suppress(ValueError):  # a line cut short by the kill was never answered
                accepted.append(json.loads(line))
    return accepted


def test_with_the_console_provider_a_worker_killed_mid_batch_sends_nothing_twice(settings):
    """The development stack, the same crash: the console provider looks texts up in its outbox.
    It cannot hold an answer, so the sender is paced (10 a second: the first batch takes five
    seconds) and the worker is killed once 10 texts are in the outbox, wherever it then is in
    its batch (between a send and its record, or not)."""
    contacts = [ContactFactory(sms_consent=SmsConsent.OPTED_IN) for _ in range(20)]
    ids = [message_send(contact=contacts[i % 20], body=f"Console crash text {i}").pk for i in range(TEXTS)]
    batches = [ids[start : start + DELIVERY_BATCH] for start in range(0, TEXTS, DELIVERY_BATCH)]
    outbox = Path(settings.SMS_CONSOLE_OUTBOX_DIR)
    env = worker_env(SMS_PROVIDER="console", SMS_CONSOLE_OUTBOX_DIR=str(outbox), SMS_SEGMENTS_PER_SECOND="10")

    doomed = start_worker(env, timezone.now(), [{"after": 0, "tasks": batches}])
    try:
        deadline = time.monotonic() + WAIT
        while len(console_accepted(outbox)) < 10:
            if doomed.poll() is not None or time.monotonic() > deadline:
                kill(doomed)
                pytest.fail(f"the worker never sent 10 texts: {doomed.communicate(timeout=10)[1][-3000:]}")
            time.sleep(0.01)
        kill(doomed)
        killed_at = timezone.now()
    finally:
        kill(doomed)

    at_kill = len(console_accepted(outbox))
    assert 10 <= at_kill < DELIVERY_BATCH
    recorded = Message.objects.filter(pk__in=ids, status=MessageStatus.SENT).count()
    assert statuses(ids).get(MessageStatus.SENDING) == DELIVERY_BATCH - recorded

    recovery_at = LEASE + timedelta(seconds=RECOVERY_EVERY_SECONDS)
    fresh = start_worker(env, killed_at, [{"after": recovery_at.total_seconds(), "tasks": [batches[1]]}])
    try:
        (recovery,) = finish(fresh)
    finally:
        kill(fresh)

    assert recovery["results"] == {"sent": TEXTS - recorded}
    assert datetime.fromisoformat(recovery["finished_at"]) - killed_at <= RECOVERY_BOUND
    assert statuses(ids) == {MessageStatus.SENT: TEXTS}  # 0 lost
    accepted = console_accepted(outbox)
    bodies = dict(Message.objects.filter(pk__in=ids).values_list("body", "provider_sid"))
    assert len(accepted) == TEXTS  # 0 sent twice
    assert {text["body"]: text["sid"] for text in accepted} == bodies
