from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm import services
from crm.models import Activity, ActivityKind, Event, Order, RenewalStatus, TaskStatus
from tests.factories import AccountFactory, ContactFactory, DealFactory, RenewalFactory, TaskFactory, stage

pytestmark = pytest.mark.django_db


def test_contact_create_normalises_email_and_phone_and_infers_timezone():
    contact = services.contact_create(first_name="Ann", email=" Ann@Example.COM ", phone="(415) 555-2671")
    assert contact.email == "ann@example.com"
    assert (contact.phone, contact.phone_raw, contact.phone_valid) == ("+14155552671", "(415) 555-2671", True)
    assert contact.timezone == "America/Los_Angeles"


def test_explicit_timezone_wins_over_the_number():
    contact = services.contact_create(phone="(415) 555-2671", timezone="Europe/Berlin")
    assert contact.timezone == "Europe/Berlin"


def test_contact_without_phone_falls_back_to_account_timezone():
    contact = services.contact_create(
        account=AccountFactory(timezone="America/Denver"), email="x@example.com"
    )
    assert contact.timezone == "America/Denver" and contact.phone is None


def test_phone_region_reads_national_numbers():
    contact = services.contact_create(phone="020 7946 0958", phone_region="gb")
    assert contact.phone == "+442079460958"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"phone": "abc"}, "phone"),
        ({"phone": "020 7946 0958", "phone_region": "XX"}, "phone_region"),
        ({"email": "TAKEN@example.com"}, "email"),
        ({"phone": "+1 (212) 200-0000"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_contact_create_rejects_bad_input_per_field(kwargs, field):
    ContactFactory(email="taken@example.com", phone="+12122000000")
    with pytest.raises(ValidationError) as exc:
        services.contact_create(**kwargs)
    assert field in exc.value.message_dict


def test_contact_update_keeps_phone_unless_given_and_allows_own_values():
    contact = services.contact_create(email="me@example.com", phone="(415) 555-2671")
    services.contact_update(contact=contact, first_name="Me", email="ME@example.com")
    contact.refresh_from_db()
    assert (contact.first_name, contact.email, contact.phone) == ("Me", "me@example.com", "+14155552671")
    services.contact_update(contact=contact, phone="")
    contact.refresh_from_db()
    assert contact.phone is None and contact.phone_raw == ""


def test_activity_record_files_contact_entries_on_the_account():
    contact = ContactFactory()
    entry = services.activity_record(kind=ActivityKind.CALL, contact=contact, summary="Intro call")
    assert entry.account_id == contact.account_id
    with pytest.raises(ValidationError):
        services.activity_record(kind=ActivityKind.NOTE)
    with pytest.raises(ValidationError):
        services.activity_record(kind="telepathy", contact=contact)


def test_bulk_timeline_entries_follow_the_rules_of_one_entry(django_assert_max_num_queries):
    contact, account = ContactFactory(), AccountFactory()
    at = timezone.now() - timedelta(days=3)
    entries = [
        Activity(kind=ActivityKind.SMS_SENT, contact=contact, occurred_at=at, summary="x" * 400),
        *(Activity(kind=ActivityKind.NOTE, account=account, summary=f"note {i}") for i in range(30)),
    ]
    with django_assert_max_num_queries(1):
        services.activities_record_bulk(entries)
    sent = Activity.objects.get(kind=ActivityKind.SMS_SENT)
    assert (sent.account_id, sent.occurred_at, len(sent.summary)) == (contact.account_id, at, 300)
    assert Activity.objects.filter(kind=ActivityKind.NOTE, account=account, contact=None).count() == 30
    with pytest.raises(ValidationError):
        services.activities_record_bulk([Activity(kind=ActivityKind.NOTE)])
    with pytest.raises(ValidationError):
        services.activities_record_bulk([Activity(kind="telepathy", contact=contact)])
    assert Activity.objects.count() == 31


def test_bulk_timeline_entries_by_contact_id_are_filed_on_the_account_in_one_query(
    django_assert_num_queries,
):
    contacts = [ContactFactory() for _ in range(5)] + [ContactFactory(account=None)]
    entries = [Activity(kind=ActivityKind.SMS_REPLY, contact_id=c.pk, summary="hi") for c in contacts]
    with django_assert_num_queries(2):  # the accounts, then the insert
        services.activities_record_bulk(entries)
    filed = dict(Activity.objects.values_list("contact_id", "account_id"))
    assert filed == {c.pk: c.account_id for c in contacts}
    assert filed[contacts[-1].pk] is None and all(filed[c.pk] for c in contacts[:-1])


def test_activity_insert_writes_one_entry_by_ids(django_assert_num_queries):
    contact = ContactFactory()
    with django_assert_num_queries(1):
        services.activity_insert(
            kind=ActivityKind.SMS_DELIVERED, contact_id=contact.pk, account_id=contact.account_id,
            summary="y" * 500, data={"message": 7},
        )  # fmt: skip
    entry = Activity.objects.get()
    assert (entry.contact, entry.account_id, entry.data, len(entry.summary)) == (
        contact, contact.account_id, {"message": 7}, 300,
    )  # fmt: skip
    with pytest.raises(ValidationError):
        services.activity_insert(kind=ActivityKind.NOTE, contact_id=None, account_id=None)
    with pytest.raises(ValidationError):
        services.activity_insert(kind="telepathy", contact_id=contact.pk, account_id=None)


def test_deal_stage_changes_stamp_closed_at_and_write_the_timeline():
    deal = services.deal_create(
        name="Pro upgrade", account=AccountFactory(), stage=stage("proposal"), amount=5000
    )
    services.deal_update(deal=deal, stage=stage("closed-won"))
    assert deal.closed_at is not None
    services.deal_update(deal=deal, stage=stage("negotiation"))
    assert deal.closed_at is None
    moves = [
        a.data["to"] for a in Activity.objects.filter(kind=ActivityKind.DEAL_STAGE_CHANGE).order_by("id")
    ]
    assert moves == ["proposal", "closed-won", "negotiation"]
    services.deal_update(deal=deal, next_step="Call back")
    assert Activity.objects.filter(kind=ActivityKind.DEAL_STAGE_CHANGE).count() == 3


def test_deal_weighted_amount_uses_stage_probability():
    assert DealFactory(amount=Decimal("1000"), stage=stage("proposal")).weighted_amount == Decimal("500.00")


def test_renewal_decision_is_recorded_once():
    renewal = RenewalFactory(acv=Decimal("10000"))
    services.renewal_update(renewal=renewal, status=RenewalStatus.EXPANDED, renewed_acv=Decimal("14000"))
    assert renewal.decided_at is not None
    entry = Activity.objects.get(kind=ActivityKind.RENEWAL_DECISION)
    assert entry.data == {"renewal": renewal.pk, "status": "expanded", "acv": "10000", "renewed_acv": "14000"}
    services.renewal_update(renewal=renewal, renewed_acv=Decimal("15000"))
    assert Activity.objects.filter(kind=ActivityKind.RENEWAL_DECISION).count() == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"status": RenewalStatus.RENEWED},  # decided without renewed ACV
        {"status": RenewalStatus.CHURNED, "renewed_acv": Decimal("5")},
    ],
)
def test_renewal_outcome_must_be_consistent(fields):
    with pytest.raises(ValidationError):
        services.renewal_update(renewal=RenewalFactory(), **fields)


def test_renewal_end_must_follow_start():
    today = timezone.now().date()
    with pytest.raises(ValidationError) as exc:
        services.renewal_create(account=AccountFactory(), start_date=today, end_date=today, acv=1000)
    assert "end_date" in exc.value.message_dict


def test_task_create_takes_account_from_contact_and_done_stamps_completion():
    contact = ContactFactory()
    task = services.task_create(title="Call", contact=contact, owner=contact.account.owner)
    assert task.account_id == contact.account_id
    assert Activity.objects.filter(kind=ActivityKind.TASK_CREATED, contact=contact).exists()
    services.task_update(task=task, status=TaskStatus.DONE)
    assert task.completed_at is not None
    services.task_update(task=task, status=TaskStatus.OPEN)
    assert task.completed_at is None


def test_task_is_overdue_only_when_open_and_past_due():
    assert TaskFactory(due_at=timezone.now() - timedelta(hours=1)).is_overdue
    assert not TaskFactory(due_at=timezone.now() - timedelta(hours=1), status=TaskStatus.DONE).is_overdue


def test_orders_upsert_is_idempotent_on_external_id(django_assert_max_num_queries):
    contact = ContactFactory()
    now = timezone.now()

    def rows(amount):
        return [
            {"contact": contact, "amount": Decimal(amount), "ordered_at": now, "external_id": f"ord-{i}"}
            for i in range(50)
        ] + [{"contact": contact, "amount": Decimal("1"), "ordered_at": now}]

    with django_assert_max_num_queries(8):
        first = services.orders_upsert(rows=rows("10"))
    assert (first.created, first.updated) == (51, 0)
    assert all(o.account_id == contact.account_id for o in first.objects)
    again = services.orders_upsert(rows=rows("12")[:50])
    assert (again.created, again.updated) == (0, 50)
    assert Order.objects.count() == 51
    assert set(Order.objects.filter(external_id__isnull=False).values_list("amount", flat=True)) == {
        Decimal("12")
    }
    assert [o.external_id for o in again.objects] == [f"ord-{i}" for i in range(50)]


def test_events_ingest_collapses_repeats_within_a_batch():
    contact = ContactFactory()
    now = timezone.now()
    rows = [
        {"contact": contact, "name": "login", "occurred_at": now, "external_id": "e-1"},
        {"contact": contact, "name": "report_viewed", "occurred_at": now, "external_id": "e-1"},
    ]
    result = services.events_ingest(rows=rows)
    assert result.created == 1 and len(result.objects) == 1
    assert Event.objects.get().name == "report_viewed"


def test_a_new_number_brings_its_timezone_unless_one_was_chosen():
    contact = services.contact_create(phone="(415) 555-2671")
    assert contact.timezone == "America/Los_Angeles"
    services.contact_update(contact=contact, phone="(212) 867-5309")
    assert contact.timezone == "America/New_York"
    services.contact_update(contact=contact, timezone="Europe/Berlin")
    services.contact_update(contact=contact, phone="(415) 555-2671")
    assert contact.timezone == "Europe/Berlin"


def test_a_contact_must_belong_to_the_account_it_is_filed_under():
    contact, other = ContactFactory(), AccountFactory()
    attempts = [
        lambda: services.deal_create(name="x", account=other, contact=contact, stage=stage("proposal")),
        lambda: services.task_create(title="x", account=other, contact=contact),
        lambda: services.activity_record(kind=ActivityKind.NOTE, contact=contact, account=other),
        lambda: services.orders_upsert(
            rows=[{"contact": contact, "account": other, "amount": Decimal(1), "ordered_at": timezone.now()}]
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError) as exc:
            attempt()
        assert "contact" in exc.value.message_dict
    assert not Order.objects.exists()


def test_account_services_validate():
    account = services.account_create(name="Acme", timezone="America/Chicago")
    services.account_update(account=account, seats=12)
    account.refresh_from_db()
    assert account.seats == 12
    with pytest.raises(ValidationError) as exc:
        services.account_update(account=account, timezone="Nowhere/Town")
    assert "timezone" in exc.value.message_dict


def test_bulk_tasks_land_on_the_timeline():
    from crm.models import Task, TaskSource

    contacts = [ContactFactory() for _ in range(3)]
    created = services.tasks_create_bulk(
        tasks=[
            Task(title=f"Follow up {c.pk}", contact=c, account=c.account, source=TaskSource.PLAY)
            for c in contacts
        ]
    )
    assert all(task.pk for task in created)
    entries = Activity.objects.filter(kind=ActivityKind.TASK_CREATED).order_by("id")
    assert [(e.contact_id, e.data["task"], e.data["source"]) for e in entries] == [
        (task.contact_id, task.pk, "play") for task in created
    ]
