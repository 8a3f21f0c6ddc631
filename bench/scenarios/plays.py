"""Scenario 1: play evaluation end to end (candidates -> holdout -> governance -> enrollments
-> queued messages, delivery enqueued on commit through the configured broker).

Engine: ``plays.engine.play_run(play)``. Baseline: the simplest correct per-contact ORM loop
doing the same work one contact at a time (same candidate query, then per contact: previous
enrollment check, arm, ``governance.decide([one])``, render, Message + Enrollment created one
by one, delivery enqueued on commit), in one transaction."""

import cProfile
import io
import pstats
import time
from collections import Counter
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

NAME = "plays"
TEMPLATE = (
    "Hi {first_name}, your {account} plan renews on {renewal_date} ({renewal_acv}). "
    "Questions? Just reply - {owner}"
)


def create_play():
    from plays.models import Play, PlayStatus

    play = Play(
        name="Bench renewal window 60d",
        moment="renewal",
        trigger={"type": "renewal_window", "days": 60},
        audience={},
        template=TEMPLATE,
        cooldown_days=7,
        holdout_percent=10,
        status=PlayStatus.ACTIVE,
    )
    play.full_clean()
    play.save()
    return play


def reset(play) -> None:
    """Forget what the previous repetition wrote, so every repetition decides the same set."""
    from django_q.models import OrmQ

    from plays.models import Enrollment, Play
    from sms.governance import play_source
    from sms.models import Message

    Enrollment.objects.filter(play=play).delete()
    # Raw delete: nothing else points at these messages (their enrollments are gone).
    messages = Message.objects.filter(source=play_source(play.pk))
    messages._raw_delete(messages.db)
    OrmQ.objects.all().delete()
    Play.objects.filter(pk=play.pk).update(running_since=None)
    if connection.vendor == "postgresql":
        # The same physical state for every repetition: without it each one leaves ~10^5 dead
        # rows and index entries that the next one's unique checks and scans wade through
        # (autovacuum would clear them in production; here repetitions follow in seconds).
        with connection.cursor() as cursor:
            for model in (Enrollment, Message, OrmQ):
                cursor.execute(f"VACUUM {connection.ops.quote_name(model._meta.db_table)}")


def outcome_counts(play) -> dict:
    """What a run wrote: enrollments by arm/outcome/reason, texts queued and enqueued."""
    from django.db.models import Count

    from plays.models import Enrollment
    from sms.governance import play_source
    from sms.models import Message, MessageStatus

    by = Counter()
    for row in (
        Enrollment.objects.filter(play=play).values("arm", "outcome", "reason").annotate(n=Count("pk"))
    ):
        by[f"{row['arm']}/{row['outcome']}/{row['reason'] or '-'}"] = row["n"]
    return {
        "enrollments": sum(by.values()),
        "by_arm_outcome_reason": dict(sorted(by.items())),
        "messages_queued": Message.objects.filter(
            source=play_source(play.pk), status=MessageStatus.QUEUED
        ).count(),
        "enrollments_with_message": Enrollment.objects.filter(play=play, message__isnull=False).count(),
        # Handed to the broker (enqueued_at is set once a delivery task holds the message); the
        # engine batches texts per task, the baseline enqueues one task per text.
        "messages_enqueued": Message.objects.filter(
            source=play_source(play.pk), enqueued_at__isnull=False
        ).count(),
    }


def run_engine(play) -> dict:
    from plays.engine import play_run

    result = play_run(play)
    return {"candidates": result.candidates, "decided": result.decided}


def run_baseline(play) -> dict:
    from crm.models import Contact, Renewal, RenewalStatus
    from plays import templates, triggers
    from plays.engine import OUTCOME_OF, arm_for
    from plays.models import Arm, Enrollment, Outcome
    from sms import governance
    from sms.models import Direction, Message, MessageKind, MessageStatus
    from sms.segments import count_segments
    from sms.services.sending import clean_body, enqueue_delivery

    now = timezone.now()
    rows = triggers.candidates(play.trigger, play.audience or {}, now=now)
    source = governance.play_source(play.pk)
    decided = 0
    with transaction.atomic():
        for contact_id, account_id, occurrence in rows:
            if Enrollment.objects.filter(play=play, contact_id=contact_id, occurrence=occurrence).exists():
                continue
            decided += 1
            arm = arm_for(play.pk, contact_id, play.holdout_percent)
            if arm == Arm.CONTROL:
                Enrollment.objects.create(
                    play=play,
                    contact_id=contact_id,
                    account_id=account_id,
                    occurrence=occurrence,
                    arm=arm,
                    outcome=Outcome.SUPPRESSED,
                    reason="holdout",
                    decided_at=now,
                )
                continue
            decision = governance.decide(
                [
                    governance.Candidate(
                        contact_id=contact_id,
                        account_id=account_id,
                        play_id=play.pk,
                        moment=play.moment,
                        cooldown_days=play.cooldown_days,
                    )
                ],
                now=now,
            )[0]
            outcome, reason, message = OUTCOME_OF[decision.outcome], decision.reason, None
            if decision.sends:
                contact = Contact.objects.select_related("account__owner", "owner").get(pk=contact_id)
                account = contact.account
                owner = (account.owner if account else None) or contact.owner
                renewal = None
                if occurrence.startswith("renewal:"):
                    renewal = Renewal.objects.filter(pk=int(occurrence.split(":")[1])).first()
                if renewal is None and contact.account_id:
                    renewal = (
                        Renewal.objects.filter(
                            account_id=contact.account_id,
                            status=RenewalStatus.UPCOMING,
                            end_date__gte=now.date(),
                        )
                        .order_by("end_date", "id")
                        .first()
                    )
                context = templates.MessageContext(
                    first_name=contact.first_name,
                    last_name=contact.last_name,
                    account=account.name if account else "",
                    owner=(owner.get_full_name() or owner.username) if owner else "",
                    renewal_date=templates.format_date(renewal.end_date) if renewal else None,
                    renewal_acv=templates.format_money(renewal.acv) if renewal else None,
                )
                try:
                    body = clean_body(templates.render(play.template, context))
                except templates.RenderError as error:
                    outcome, reason = Outcome.FAILED, error.reason
                else:
                    info = count_segments(body)
                    created = timezone.now()
                    message = Message.objects.create(
                        contact=contact,
                        direction=Direction.OUTBOUND,
                        kind=MessageKind.AUTOMATED,
                        source=source,
                        body=body,
                        to_number=contact.phone,
                        status=MessageStatus.QUEUED,
                        segments=info.segments,
                        encoding=info.encoding,
                        next_attempt_at=decision.send_at,
                        deferred_reason="quiet_hours" if decision.send_at > created else "",
                        status_updated_at=created,
                    )
                    if decision.send_at <= created:
                        transaction.on_commit(partial(enqueue_delivery, message.pk), robust=True)
            Enrollment.objects.create(
                play=play,
                contact_id=contact_id,
                account_id=account_id,
                occurrence=occurrence,
                arm=arm,
                outcome=outcome,
                reason=reason,
                message=message,
                decided_at=now,
            )
    return {"candidates": len(rows), "decided": decided}


class _QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measure(play, runner) -> dict:
    """One repetition from a clean state: wall time, queries, and what it wrote."""
    reset(play)
    counter = _QueryCounter()
    # The wrapper list lives on the connection handler, so it survives reconnects.
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        info = runner(play)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "queries": counter.count, **info, "outcome": outcome_counts(play)}


# Functions whose cumulative time tells where an engine run goes.
PHASES = [
    ("plays/triggers.py", "candidates", "candidate query"),
    ("sms/governance.py", "decide", "governance.decide (all batches)"),
    ("plays/engine.py", "_render", "render (contacts + renewals + templates)"),
    ("plays/engine.py", "_write", "write (enrollments, messages, on_commit enqueue)"),
    ("core/bulk.py", "rows_insert", "  rows_insert (enrollments + messages)"),
    ("sms/services/sending.py", "messages_queue_bulk", "  messages_queue_bulk"),
    ("sms/services/sending.py", "enqueue_deliveries", "  enqueue_deliveries (on_commit, 50 texts per task)"),
    ("django_q/tasks.py", "async_task", "    django_q async_task"),
    ("django/db/__init__.py", "close_old_connections", "    close_old_connections (in ORM broker)"),
    ("django/db/backends/base/base.py", "connect", "    DB connect (reconnects)"),
    ("django/db/backends/base/base.py", "commit", "  COMMIT (deferred FK checks, WAL flush)"),
]


def profile(play, runner, path) -> dict:
    """One extra, untimed repetition under cProfile: phase times and the top functions."""
    reset(play)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    runner(play)
    profiler.disable()
    wall = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    phases = {}
    for suffix, func, label in PHASES:
        for (filename, _, name), (_, calls, _, cumulative, _) in stats.stats.items():
            if name == func and filename.replace("\\", "/").endswith(suffix):
                entry = phases.setdefault(label, {"seconds": 0.0, "calls": 0})
                entry["seconds"] = round(entry["seconds"] + cumulative, 3)
                entry["calls"] += calls
    out = io.StringIO()
    out.write(f"wall under cProfile: {wall:.2f} s\n\nPhases (cumulative):\n")
    for label, entry in phases.items():
        out.write(f"  {label:55s} {entry['seconds']:8.2f} s  {entry['calls']:>8} calls\n")
    stats.stream = out
    out.write("\n")
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(25)
    path.write_text(out.getvalue())
    return {"wall_under_profile": round(wall, 2), "phases": phases, "file": str(path)}
