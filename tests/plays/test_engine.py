"""The engine: holdout, governance outcomes with reasons, idempotent runs, dry runs, query cost."""

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import SmsConsent, Task, TaskSource
from plays.engine import PlayNotRunnable, arm_for, play_run
from plays.models import Arm, Enrollment, Outcome, PlayStatus
from sms.models import Message, MessageKind, MessageStatus
from tests.factories import AccountFactory, ContactFactory, RenewalFactory
from tests.plays.conftest import make_play, opted_in_contact

pytestmark = pytest.mark.django_db


def renewing_account(contacts=1, consent=SmsConsent.OPTED_IN, **account_fields):
    account = AccountFactory(**account_fields)
    today = timezone.now().date()
    RenewalFactory(
        account=account, start_date=today - timedelta(days=330), end_date=today + timedelta(days=35)
    )
    people = [ContactFactory(account=account, sms_consent=consent) for _ in range(contacts)]
    return account, people


# --- Holdout ----------------------------------------------------------------------------


def test_arms_are_deterministic_and_proportional():
    arms = [arm_for(7, contact_id, 20) for contact_id in range(10_000)]
    assert arms == [arm_for(7, contact_id, 20) for contact_id in range(10_000)]
    share = Counter(arms)[Arm.CONTROL] / 10_000
    assert 0.18 <= share <= 0.22
    assert Counter(arm_for(8, contact_id, 10) for contact_id in range(10_000))[Arm.CONTROL] in range(
        800, 1201
    )
    assert {arm_for(7, contact_id, 0) for contact_id in range(1000)} == {Arm.TREATMENT}
    # Another play splits the same people differently.
    assert arms != [arm_for(9, contact_id, 20) for contact_id in range(10_000)]


def test_control_contacts_are_logged_and_never_texted():
    play = make_play(holdout_percent=50)
    renewing_account(contacts=40)
    result = play_run(play)
    control = Enrollment.objects.filter(play=play, arm=Arm.CONTROL)
    assert 8 <= control.count() <= 32
    assert set(control.values_list("outcome", "reason")) == {(Outcome.SUPPRESSED, "holdout")}
    assert not control.exclude(message=None).exists()
    control_ids = set(control.values_list("contact_id", flat=True))
    assert not Message.objects.filter(contact_id__in=control_ids).exists()
    treated = Enrollment.objects.filter(play=play, arm=Arm.TREATMENT)
    assert treated.count() == 40 - len(control_ids)
    assert Message.objects.filter(source=f"play:{play.pk}").count() == treated.count()
    assert result.arms[Arm.CONTROL] == len(control_ids) and result.outcomes[Outcome.SENT] == treated.count()


# --- Outcomes ---------------------------------------------------------------------------


def test_sent_texts_are_rendered_queued_and_linked():
    play = make_play(template="Hi {first_name}: {account} renews on {renewal_date} ({renewal_acv}). {owner}")
    account, (contact,) = renewing_account(name="Acme")
    result = play_run(play)
    enrollment = Enrollment.objects.get(play=play)
    assert (enrollment.arm, enrollment.outcome, enrollment.reason) == (Arm.TREATMENT, Outcome.SENT, "")
    assert enrollment.account_id == account.pk
    message = enrollment.message
    renewal = account.renewals.get()
    owner = account.owner.get_full_name()
    assert message.body == (
        f"Hi {contact.first_name}: Acme renews on {renewal.end_date:%B} {renewal.end_date.day}, "
        f"{renewal.end_date.year} ($12,000). {owner}"
    )
    assert (message.kind, message.status, message.source) == (
        MessageKind.AUTOMATED,
        MessageStatus.QUEUED,
        f"play:{play.pk}",
    )
    assert result.samples[0]["body"] == message.body


def test_governance_refusals_are_recorded_with_reasons():
    play = make_play()
    _, (unknown, opted_out) = renewing_account(contacts=2, consent=SmsConsent.UNKNOWN)
    opted_out.sms_consent = SmsConsent.OPTED_OUT
    opted_out.save()
    result = play_run(play)
    reasons = dict(Enrollment.objects.filter(play=play).values_list("contact_id", "reason"))
    assert reasons == {unknown.pk: "consent:not_opted_in", opted_out.pk: "consent:opted_out"}
    assert set(Enrollment.objects.values_list("outcome", flat=True)) == {Outcome.SUPPRESSED}
    assert not Message.objects.exists()
    assert result.reasons == {"consent:not_opted_in": 1, "consent:opted_out": 1}


def test_quiet_hours_defer_with_a_queued_message_for_the_window(settings):
    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 9, 17
    play = make_play()
    renewing_account(timezone="America/New_York")
    new_york = ZoneInfo("America/New_York")
    now = (timezone.now().astimezone(new_york) + timedelta(days=1)).replace(
        hour=3, minute=0, second=0, microsecond=0
    )
    play_run(play, now=now)
    enrollment = Enrollment.objects.get(play=play)
    assert (enrollment.outcome, enrollment.reason) == (Outcome.DEFERRED, "quiet_hours")
    message = enrollment.message
    assert message.status == MessageStatus.QUEUED and message.deferred_reason == "quiet_hours"
    assert message.next_attempt_at == now.replace(hour=9)


def test_a_template_that_needs_a_renewal_fails_without_one():
    play = make_play(trigger={"type": "days_since_order", "days": 1}, template="Renews {renewal_date}")
    contact = opted_in_contact(account=None)
    contact.orders.create(amount=10, ordered_at=timezone.now() - timedelta(days=3))
    play_run(play)
    enrollment = Enrollment.objects.get()
    assert (enrollment.outcome, enrollment.reason, enrollment.message) == (
        Outcome.FAILED,
        "template:no_renewal",
        None,
    )
    assert not Message.objects.exists()


def test_next_step_creates_a_task_for_the_account_owner():
    play = make_play(next_step={"create_task": True, "task_title": "Call about the renewal"})
    account, (contact,) = renewing_account()
    result = play_run(play)
    task = Task.objects.get()
    assert (task.owner, task.account, task.contact, task.source) == (
        account.owner,
        account,
        contact,
        TaskSource.PLAY,
    )
    assert task.title == "Call about the renewal" and result.tasks_created == 1


# --- Idempotency, locking, dry runs ----------------------------------------------------------


def test_a_second_run_decides_nothing_new():
    play = make_play(holdout_percent=30)
    renewing_account(contacts=10)
    first = play_run(play)
    assert first.decided == 10
    enrollments, messages = Enrollment.objects.count(), Message.objects.count()
    second = play_run(play)
    assert second.decided == 0 and second.already_decided == 10
    assert (Enrollment.objects.count(), Message.objects.count()) == (enrollments, messages)


def test_only_active_plays_run_and_runs_never_overlap():
    play = make_play(status=PlayStatus.PAUSED)
    renewing_account()
    with pytest.raises(PlayNotRunnable) as refused:
        play_run(play)
    assert refused.value.code == "not_active"
    play.status = PlayStatus.ACTIVE
    play.running_since = timezone.now() - timedelta(minutes=2)
    play.save()
    with pytest.raises(PlayNotRunnable) as refused:
        play_run(play)
    assert refused.value.code == "running"
    assert not Enrollment.objects.exists()
    play.running_since = timezone.now() - timedelta(minutes=11)  # its worker died
    play.save()
    assert play_run(play).decided == 1
    play.refresh_from_db()
    assert play.running_since is None and play.last_run_at is not None


def _row_counts():
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_dry_run_writes_nothing_and_predicts_the_run(settings):
    play = make_play(holdout_percent=30, next_step={"create_task": True, "task_title": "Call"})
    renewing_account(contacts=12)
    renewing_account(contacts=3, consent=SmsConsent.UNKNOWN)
    play.status = PlayStatus.DRAFT  # previews work in any status
    play.save()
    before = _row_counts()
    now = timezone.now()
    preview = play_run(play, dry_run=True, now=now)
    assert _row_counts() == before
    play.refresh_from_db()
    assert play.last_run_at is None and play.running_since is None
    play.status = PlayStatus.ACTIVE
    play.save()
    real = play_run(play, now=now)
    assert preview.as_dict() | {"dry_run": True, "tasks_created": 0} == real.as_dict() | {
        "dry_run": True,
        "tasks_created": 0,
    }
    assert preview.outcomes[Outcome.SENT] > 0 and preview.samples


def test_queries_grow_only_with_batches_not_contacts():
    """30 and 100 candidates are one batch of 100; 200 and 300 add one batch's fixed cost each:
    one query for what the play decided already, governance's nine, three to render, and the
    writes (text ids, enrollments, texts). Delivery is enqueued after the commit, 50 texts a task."""
    sizes = (30, 100, 200, 300)
    plays = {}
    for size in sizes:
        plays[size] = make_play(audience={"account_attributes": {"group": size}})
        renewing_account(contacts=size, attributes={"group": size})
    queries = {}
    for size in sizes:
        with CaptureQueriesContext(connection) as captured:
            assert play_run(plays[size], batch_size=100).outcomes[Outcome.SENT] == size
        queries[size] = len(captured)
    print(f"queries per run (batch size 100): {queries}")
    per_batch = queries[200] - queries[100]
    assert queries[300] - queries[200] == per_batch
    assert queries[30] == queries[100] <= 25
    assert per_batch <= 20


def test_link_placeholder_gets_a_tracked_link_per_text_and_previews_write_none():
    from django.core.exceptions import ValidationError

    from sms.models import Message, ShortLink

    play = make_play(template="Hi {first_name}, renew here: {link}", link_url="https://example.com/renew")
    _, people = renewing_account(contacts=2)
    preview = play_run(play, dry_run=True)
    assert "http://testserver/l/preview" in preview.samples[0]["body"]
    assert not ShortLink.objects.exists()
    play_run(play)
    links = {link.contact_id: link.code for link in ShortLink.objects.all()}
    assert set(links) == {p.pk for p in people}
    for message in Message.objects.filter(source=f"play:{play.pk}"):
        assert message.body.endswith(f"http://testserver/l/{links[message.contact_id]}")
    play.link_url = ""
    with pytest.raises(ValidationError) as exc:
        play.full_clean()
    assert "link_url" in exc.value.message_dict


# --- How the writes are made ------------------------------------------------------------------


def test_each_enrollment_is_written_once_already_linked_to_its_text():
    play = make_play(holdout_percent=30)
    renewing_account(contacts=25)
    with CaptureQueriesContext(connection) as captured:
        result = play_run(play)
    statements = [q["sql"].upper() for q in captured]
    assert not [sql for sql in statements if sql.startswith("UPDATE") and "PLAYS_ENROLLMENT" in sql]
    assert len([sql for sql in statements if sql.startswith("INSERT") and "PLAYS_ENROLLMENT" in sql]) == 1
    texted = Enrollment.objects.filter(play=play, outcome=Outcome.SENT).select_related("message", "contact")
    assert texted.count() == result.outcomes[Outcome.SENT] > 0
    for enrollment in texted:
        assert enrollment.message.contact_id == enrollment.contact_id
        assert enrollment.message.body.startswith(f"Hi {enrollment.contact.first_name},")
    assert Message.objects.filter(source=f"play:{play.pk}").count() == texted.count()
    assert not Enrollment.objects.filter(play=play, arm=Arm.CONTROL).exclude(message=None).exists()


@pytest.mark.parametrize("returning", [True, False], ids=["insert-returning", "read-back-by-run-token"])
def test_an_occurrence_another_run_decided_meanwhile_is_not_texted_again(monkeypatch, returning):
    """A second worker that took over a stale claim decides the same occurrences; the first
    worker's enrollment commits between the second's check for decided occurrences and its
    insert. Only the run whose enrollment row went in queues a text."""
    from plays import engine
    from plays.triggers import candidates

    play = make_play()
    _, (first, second) = renewing_account(contacts=2)
    monkeypatch.setattr(engine, "_decided_before", lambda play, contact_ids: set())  # saw nothing yet
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", returning)
    occurrence = next(o for c, _, o in candidates(play.trigger, {}, now=timezone.now()) if c == first.pk)
    theirs = Enrollment.objects.create(
        play=play, contact=first, occurrence=occurrence, arm=Arm.TREATMENT, outcome=Outcome.SENT
    )
    result = play_run(play)
    assert result.outcomes[Outcome.SENT] == 2  # it decided both
    theirs.refresh_from_db()
    assert theirs.message is None  # the other run's row is not touched
    assert not Message.objects.filter(contact=first).exists()
    mine = Enrollment.objects.get(play=play, contact=second)
    assert mine.message is not None and mine.message.contact_id == second.pk
    assert Message.objects.filter(source=f"play:{play.pk}").count() == 1


@pytest.fixture
def orm_broker(monkeypatch):
    """The django-q2 ORM broker, whatever REDIS_URL the suite runs with (CI sets one)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "ORM", "default")


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_texts_due_now_are_handed_to_the_broker_and_a_failed_enqueue_is_left_to_the_sweeper(
    django_capture_on_commit_callbacks, broker, orm_broker
):
    """With the ORM broker the delivery tasks are written in one transaction, so one failure
    enqueues nothing; with another broker each task stands alone. Either way the texts left
    without a task are unmarked, so the outbox sweeper enqueues them at its next pass."""
    from unittest import mock

    from django_q.brokers import get_broker
    from django_q.models import OrmQ

    from sms.services.sending import DELIVERY_BATCH

    play = make_play()
    renewing_account(contacts=DELIVERY_BATCH + 5)
    calls = []

    def enqueue(func, message_ids, **kwargs):
        calls.append(list(message_ids))
        if len(calls) == 2:
            raise ConnectionError("broker down")
        return real_async_task(func, message_ids, **kwargs)

    from django_q.tasks import async_task as real_async_task

    redis = mock.Mock(name="redis broker")
    other_broker = mock.patch("django_q.brokers.get_broker", return_value=redis)
    with (
        mock.patch("django_q.tasks.async_task", side_effect=enqueue),
        other_broker if broker == "redis" else mock.patch("django_q.brokers.get_broker", get_broker),
        django_capture_on_commit_callbacks(execute=True),
    ):
        play_run(play)
    assert [len(batch) for batch in calls] == [DELIVERY_BATCH, 5]
    texts = Message.objects.filter(source=f"play:{play.pk}")
    marked = set(texts.filter(enqueued_at__isnull=False).values_list("pk", flat=True))
    if broker == "orm":
        assert not marked and not OrmQ.objects.exists()  # the first task was rolled back with the second
    else:
        assert marked == set(calls[0]) and redis.enqueue.call_count == 1 and not OrmQ.objects.exists()
    assert (
        set(texts.filter(enqueued_at__isnull=True).values_list("pk", flat=True))
        == set(texts.values_list("pk", flat=True)) - marked
    )


def test_a_run_hands_its_texts_to_the_orm_broker_in_one_transaction(
    django_capture_on_commit_callbacks, orm_broker
):
    from django_q.models import OrmQ

    from sms.services.sending import DELIVERY_BATCH

    play = make_play()
    renewing_account(contacts=DELIVERY_BATCH * 2 + 1)
    with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True):
        play_run(play)
    texts = Message.objects.filter(source=f"play:{play.pk}")
    assert texts.count() == DELIVERY_BATCH * 2 + 1 == texts.filter(enqueued_at__isnull=False).count()
    assert OrmQ.objects.count() == 3
    # django-q's own packages, readable by its workers, in the broker's queue.
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    tasks = [SignedPackage.loads(row.payload) for row in OrmQ.objects.order_by("pk")]
    assert {row.key for row in OrmQ.objects.all()} == {get_broker().list_key}
    assert [task["func"] for task in tasks] == ["sms.tasks.deliver_messages"] * 3
    assert sorted(pk for task in tasks for pk in task["args"][0]) == sorted(
        texts.values_list("pk", flat=True)
    )
    statements = [q["sql"] for q in captured]
    # The three tasks in one multi-row INSERT, not one per task.
    assert len([sql for sql in statements if sql.startswith('INSERT INTO "django_q_ormq"')]) == 1
    # Inside the test's transaction each atomic block is a savepoint: the batch's write and the
    # enqueue (its tasks and their bookkeeping), not one per task.
    assert len([sql for sql in statements if sql.startswith("SAVEPOINT")]) == 2
    assert not [sql for sql in statements if sql.startswith('UPDATE "sms_message"')]
