"""core.bulk: multi-row inserts from tuples, id reservation and id-array filters (SQLite and PostgreSQL)."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import bulk
from crm.models import Contact
from plays.models import Enrollment
from sms.models import Direction, Message, MessageKind, MessageStatus
from tests.factories import AccountFactory, ContactFactory
from tests.plays.conftest import make_play

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("same", [True, False], ids=["every-row-alike", "rows-differ"])
def test_inserted_rows_get_every_other_column_as_a_model_would(same):
    contact = ContactFactory()
    now = timezone.now()
    later = now + timedelta(hours=9, microseconds=7)
    columns = ("contact_id", "direction", "kind", "body", "to_number", "status", "next_attempt_at")
    bodies = ["Grüße, 5€ {x} 'q' \\ \"\n$1", "Grüße, 5€ {x} 'q' \\ \"\n$1" if same else "plain"]
    times = [now, now if same else later]
    rows = [
        (contact.pk, Direction.OUTBOUND, MessageKind.AUTOMATED, body, contact.phone, "queued", at)
        for body, at in zip(bodies, times, strict=True)
    ]
    bulk.rows_insert(Message, columns, rows)
    written = list(Message.objects.filter(contact=contact).order_by("pk"))
    assert [(m.body, m.next_attempt_at) for m in written] == list(zip(bodies, times, strict=True))
    reference = Message(contact=contact, body="x", to_number=contact.phone)
    for message in written:
        assert (message.status, message.direction, message.kind) == ("queued", "outbound", "automated")
        # Defaults as Model() gives them; auto_now_add set at insert.
        assert (message.attempts, message.segments, message.encoding) == (0, 1, "GSM-7")
        assert (message.provider_sid, message.idempotency_key, message.sent_by_id) == (None, None, None)
        assert message.verify_before_send is reference.verify_before_send is False
        assert message.from_number == reference.from_number == ""
        assert abs((message.created_at - now).total_seconds()) < 60
    # Found again by the ORM's own datetime comparisons (SQLite stores datetimes as text).
    assert Message.objects.filter(next_attempt_at=now).count() == (2 if same else 1)


def test_conflicting_rows_are_skipped_and_only_inserted_rows_come_back():
    play = make_play()
    contacts = [ContactFactory() for _ in range(3)]
    now = timezone.now()
    Enrollment.objects.create(play=play, contact=contacts[0], occurrence="o", arm="treatment", outcome="sent")
    columns = ("play_id", "contact_id", "occurrence", "arm", "outcome", "decided_at")
    rows = [(play.pk, c.pk, "o", "control", "suppressed", now) for c in contacts]
    inserted = bulk.rows_insert(Enrollment, columns, rows, ignore_conflicts=True, returning=("contact_id",))
    assert sorted(inserted) == [(contacts[1].pk,), (contacts[2].pk,)]
    assert Enrollment.objects.get(contact=contacts[0]).arm == "treatment"  # untouched
    assert Enrollment.objects.filter(arm="control").count() == 2


def test_many_rows_are_split_into_statements_under_the_parameter_limit(monkeypatch):
    contact = ContactFactory()
    monkeypatch.setattr(bulk, "PG_ROWS_PER_STATEMENT", 7)
    monkeypatch.setattr(bulk, "max_query_params", lambda using="default": 999)
    columns = ("contact_id", "direction", "body", "to_number", "status")
    rows = [(contact.pk, Direction.OUTBOUND, f"text {n}", contact.phone, "queued") for n in range(100)]
    with CaptureQueriesContext(connection) as captured:
        bulk.rows_insert(Message, columns, rows)
    inserts = [q["sql"] for q in captured if q["sql"].startswith("INSERT")]
    if connection.vendor == "postgresql":
        assert len(inserts) == 15  # one array per column, 7 rows each
    else:
        columns_per_row = inserts[0].split(")")[0].count(",") + 1
        rows_per_statement = [sql.count("), (") + 1 for sql in inserts]
        assert sum(rows_per_statement) == 100 and len(inserts) > 1
        assert max(rows_per_statement) * columns_per_row <= 999
    assert sorted(Message.objects.values_list("body", flat=True)) == sorted(f"text {n}" for n in range(100))


def test_reserved_ids_are_never_handed_out_again():
    contact = ContactFactory()
    before = Message.objects.create(contact=contact, body="a", to_number="+1", status="queued")
    with transaction.atomic():
        reserved = bulk.ids_reserve(Message, 5)
        assert len(set(reserved)) == 5 and min(reserved) > before.pk
        # Rows inserted meanwhile without an id get others.
        after = Message.objects.create(contact=contact, body="b", to_number="+1", status="queued")
        assert after.pk not in reserved
        bulk.rows_insert(
            Message,
            ("id", "contact_id", "body", "to_number", "status"),
            [(pk, contact.pk, "r", "+1", "queued") for pk in reserved],
        )
    assert Message.objects.filter(pk__in=reserved, body="r").count() == 5
    assert set(bulk.ids_reserve(Message, 3)).isdisjoint({*reserved, before.pk, after.pk})
    assert Message.objects.create(contact=contact, body="c", to_number="+1", status="queued").pk > max(
        reserved
    )


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's AUTOINCREMENT counter")
def test_sqlite_reservation_never_trails_the_largest_id_even_without_a_counter_row():
    contact = ContactFactory()
    message = Message.objects.create(contact=contact, body="a", to_number="+1", status="queued")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [Message._meta.db_table])
    assert bulk.ids_reserve(Message, 2) == [message.pk + 1, message.pk + 2]
    Message.objects.create(pk=message.pk + 10, contact=contact, body="b", to_number="+1", status="queued")
    with connection.cursor() as cursor:  # a counter set back by hand
        cursor.execute("UPDATE sqlite_sequence SET seq = 1 WHERE name = %s", [Message._meta.db_table])
    assert bulk.ids_reserve(Message, 1) == [message.pk + 11]


def test_in_ids_takes_any_number_of_ids_as_one_parameter_and_follows_relations():
    accounts = [AccountFactory() for _ in range(2)]
    contacts = [ContactFactory(account=accounts[n % 2]) for n in range(4)]
    many = [c.pk for c in contacts] + list(range(10**6, 10**6 + 5000))  # beyond SQLite's 999
    found = set(Contact.objects.filter(bulk.in_ids("pk", many)).values_list("pk", flat=True))
    assert found == {c.pk for c in contacts}
    for contact in contacts:
        Message.objects.create(contact=contact, body="x", to_number="+1", status=MessageStatus.QUEUED)
    at_first = Message.objects.filter(bulk.in_ids("contact__account_id", [accounts[0].pk]))
    assert set(at_first.values_list("contact_id", flat=True)) == {contacts[0].pk, contacts[2].pk}
    assert not Contact.objects.filter(bulk.in_ids("pk", [])).exists()


def test_one_row_is_inserted_as_given_and_a_conflict_is_skipped():
    from crm.models import Activity, ActivityKind
    from sms.models import StatusCallback

    now = timezone.now()
    values = {"provider_sid": "SM1", "status": "delivered", "error_code": "", "received_at": now}
    (first,) = bulk.row_insert(StatusCallback, values, ignore_conflicts=True, returning=["id"])
    assert bulk.row_insert(StatusCallback, values, ignore_conflicts=True, returning=["id"]) is None
    stored = StatusCallback.objects.get()
    assert (stored.pk, stored.provider_sid, stored.received_at) == (first, "SM1", now)

    contact = ContactFactory()
    bulk.row_insert(
        Activity,
        {
            "kind": ActivityKind.SMS_DELIVERED,
            "contact": contact.pk,
            "account": contact.account_id,
            "occurred_at": now,
            "actor": None,
            "summary": "Delivered",
            "data": {"message": 7, "nested": ["a", 1]},
        },
    )
    entry = Activity.objects.get(kind=ActivityKind.SMS_DELIVERED)
    assert (entry.contact, entry.occurred_at) == (contact, now)
    assert entry.data == {"message": 7, "nested": ["a", 1]}


def test_one_row_insert_refuses_to_leave_a_column_to_chance():
    from sms.models import StatusCallback

    with pytest.raises(ValueError, match="received_at"):
        bulk.row_insert(StatusCallback, {"provider_sid": "SM1", "status": "sent", "error_code": ""})


def test_rows_update_sets_columns_of_many_rows_in_one_statement(monkeypatch):
    monkeypatch.setattr(bulk, "PG_ROWS_PER_STATEMENT", 2)  # three rows: two statements
    monkeypatch.setattr(bulk, "SQLITE_ROWS_PER_UPDATE", 2)
    accounts = [AccountFactory(name=f"U{k}") for k in range(4)]
    when = timezone.now().replace(microsecond=0) - timedelta(days=1)
    factors = [{"feature": "seat_use", "text": "30% of seats in use", "effect": 1.2, "raises": True}]
    rows = [
        (accounts[0].pk, 0.25, "watch", factors, when),
        (accounts[1].pk, None, "", [], None),
        (accounts[2].pk, 1.0, "at_risk", [], when),
        (10**9, 0.5, "good", [], when),  # no such row: nothing happens
    ]
    columns = ("churn_risk", "health_band", "health_factors", "health_scored_at")
    with CaptureQueriesContext(connection) as captured:
        assert bulk.rows_update(type(accounts[0]), columns, rows) == 3
    assert len(captured) == 2
    got = {
        a.pk: (a.churn_risk, a.health_band, a.health_factors, a.health_scored_at)
        for a in type(accounts[0]).objects.all()
    }
    assert got[accounts[0].pk] == (0.25, "watch", factors, when)
    assert got[accounts[1].pk] == (None, "", [], None)
    assert got[accounts[2].pk] == (1.0, "at_risk", [], when)
    assert got[accounts[3].pk] == (None, "", [], None)  # untouched


def test_rows_update_sets_each_row_to_its_own_values_in_one_statement(monkeypatch):
    play = make_play()
    now = timezone.now()
    later = now + timedelta(days=2, microseconds=3)
    enrollments = [
        Enrollment.objects.create(
            play=play, contact=ContactFactory(), occurrence="o", arm="treatment", outcome="sent"
        )
        for _ in range(3)
    ]
    untouched = Enrollment.objects.create(
        play=play, contact=ContactFactory(), occurrence="o", arm="treatment", outcome="sent", state="waiting"
    )
    columns = ("state", "next_at", "exit_reason", "step", "moves")
    rows = [
        (enrollments[0].pk, "waiting", later, "", 3, 4),
        (enrollments[1].pk, "exited", None, "event:paid — “quoted”", 1, 2),
        (enrollments[2].pk, "completed", None, "", 7, 9),
    ]
    with CaptureQueriesContext(connection) as captured:
        assert bulk.rows_update(Enrollment, columns, rows) == 3
    assert len(captured) == 1
    found = {
        e.pk: (e.state, e.next_at, e.exit_reason, e.step, e.moves)
        for e in Enrollment.objects.filter(pk__in=[e.pk for e in enrollments])
    }
    assert found == {row[0]: row[1:] for row in rows}
    assert Enrollment.objects.get(pk=untouched.pk).state == "waiting"
    # Found again by the ORM's own datetime comparison (SQLite keeps datetimes as text).
    assert Enrollment.objects.filter(next_at=later).count() == 1
    # More rows than one statement takes: several statements, every row still set.
    monkeypatch.setattr(bulk, "PG_ROWS_PER_STATEMENT", 2)
    monkeypatch.setattr(bulk, "SQLITE_ROWS_PER_UPDATE", 2)
    assert bulk.rows_update(Enrollment, ("step",), [(e.pk, 11) for e in enrollments]) == 3
    assert set(
        Enrollment.objects.filter(pk__in=[e.pk for e in enrollments]).values_list("step", flat=True)
    ) == {11}


def test_rows_update_sets_columns_by_primary_key_in_few_statements(monkeypatch):
    """Values of every kind (float, decimal, text, an aware time, NULL) land exactly; other rows
    and other columns are untouched; statements grow only per PG_ROWS_PER_STATEMENT rows."""
    from decimal import Decimal

    monkeypatch.setattr(bulk, "PG_ROWS_PER_STATEMENT", 3)
    monkeypatch.setattr(bulk, "SQLITE_ROWS_PER_UPDATE", 3)
    contacts = [ContactFactory(first_name=f"N{i}") for i in range(5)]
    untouched = ContactFactory(first_name="Other")
    at = timezone.now() - timedelta(days=1, microseconds=11)
    rows = [
        (c.pk, 0.25 * i, Decimal("1234.56") + i, "high" if i % 2 else "low", at if i else None)
        for i, c in enumerate(contacts)
    ]
    columns = ["clv_p_alive", "clv_expected_12m", "clv_tier", "clv_scored_at"]
    with CaptureQueriesContext(connection) as captured:
        assert bulk.rows_update(Contact, columns, rows) == 5
    assert len(captured) == 2  # 3 + 2 rows
    stored = {
        c.pk: (c.clv_p_alive, c.clv_expected_12m, c.clv_tier, c.clv_scored_at, c.first_name)
        for c in Contact.objects.all()
    }
    for i, contact in enumerate(contacts):
        assert stored[contact.pk] == (*rows[i][1:], f"N{i}")
    assert stored[untouched.pk] == (None, None, "", None, "Other")
