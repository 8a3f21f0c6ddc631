"""Order, renewal and consent imports: keys, bad dates and references, idempotency."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Activity, ActivityKind, Contact, Order, Renewal, RenewalStatus, SmsConsent
from sms.models import ConsentEvent, ConsentSource
from tests.crm.imports_helpers import outcomes, run
from tests.factories import AccountFactory, ContactFactory, OrderFactory, RenewalFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- Orders ------------------------------------------------------------------------------------


def test_orders_are_upserted_on_their_id_and_find_their_customer():
    ann = ContactFactory(email="ann@example.com", phone="+13125550101")
    acme = AccountFactory(name="Acme", domain="acme.com")
    known = OrderFactory(external_id="A-2", contact=ann, account=ann.account, amount=Decimal("5.00"))
    job = run(
        "orders",
        """
Order number,Email,Website,Total,Margin,Order date
A-1,ann@example.com,,"$1,200.50",62%,2025-03-04
A-2,ANN@example.com,,80.00,0.6,03/05/2025 10:30
A-3,,acme.com,(15.00),,2025-03-06T08:00:00+02:00
""",
    )
    assert job.counts == {"create": 2, "update": 1}
    first = Order.objects.get(external_id="A-1")
    assert (first.contact, first.account, first.amount, first.gross_margin) == (
        ann,
        ann.account,
        Decimal("1200.50"),
        Decimal("0.6200"),
    )
    assert first.ordered_at == datetime(2025, 3, 4, tzinfo=UTC)
    known.refresh_from_db()
    assert known.amount == Decimal("80.00") and known.ordered_at == datetime(2025, 3, 5, 10, 30, tzinfo=UTC)
    refund = Order.objects.get(external_id="A-3")
    assert refund.account == acme and refund.contact is None and refund.amount == Decimal("-15.00")
    assert refund.ordered_at == datetime(2025, 3, 6, 6, tzinfo=UTC)


def test_reimporting_orders_changes_nothing():
    ContactFactory(email="ann@example.com")
    data = "id,email,amount,date\nA-1,ann@example.com,10,2025-01-01\nA-2,ann@example.com,12.5,2025-01-02\n"
    run("orders", data)
    stamps = dict(Order.objects.values_list("external_id", "updated_at"))
    again = run("orders", data)
    assert again.counts == {"unchanged": 2}
    assert dict(Order.objects.values_list("external_id", "updated_at")) == stamps


def test_bad_order_rows_are_skipped_with_their_reasons():
    ContactFactory(email="ann@example.com")
    AccountFactory(name="Acme")
    job = run(
        "orders",
        """
id,email,account,amount,date
A-1,ann@example.com,,10,2025-01-01
,ann@example.com,,10,2025-01-01
A-3,ann@example.com,,ten,2025-01-01
A-4,ann@example.com,,10,31/31/2025
A-5,nobody@example.com,,10,2025-01-01
A-6,,Initech,10,2025-01-01
A-7,ann@example.com,Acme,10,2025-01-01
A-8,,,10,2025-01-01
""",
    )
    rows = outcomes(job)
    assert 2 not in rows  # imported without a problem
    assert "order id is missing" in rows[3].reason
    assert rows[4].reason == "'ten' is not a number (amount)."
    assert rows[5].reason == "'31/31/2025' is not a date or time (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)."
    assert rows[6].reason == "Unknown contact: no contact matches contact 'nobody@example.com'."
    assert rows[7].reason == "Unknown account: no account has the name 'Initech'."
    assert "is a contact of another account" in rows[8].reason
    assert rows[9].reason == "The order needs a contact or an account."
    assert list(Order.objects.values_list("external_id", flat=True)) == ["A-1"]


# --- Renewals ----------------------------------------------------------------------------------


def test_renewals_are_upserted_on_account_and_start_date_and_decisions_reach_the_timeline():
    acme = AccountFactory(name="Acme", domain="acme.com")
    globex = AccountFactory(name="Globex")
    term = RenewalFactory(account=globex, start_date=date(2024, 1, 1), end_date=date(2025, 1, 1), acv=100)
    actor = UserFactory(username="importer")
    job = run(
        "renewals",
        """
Company,Domain,Term start,Term end,ACV,Status,Renewed ACV
,acme.com,2024-02-01,2025-02-01,"12,000",Upcoming,
Globex,,2024-01-01,2025-01-01,100,Renewed,120
""",
        actor=actor,
    )
    assert job.counts == {"create": 1, "update": 1}
    created = Renewal.objects.get(account=acme)
    assert (created.acv, created.status, created.decided_at) == (Decimal("12000.00"), "upcoming", None)
    term.refresh_from_db()
    assert (term.status, term.renewed_acv) == (RenewalStatus.RENEWED, Decimal("120.00"))
    assert term.decided_at is not None
    decision = Activity.objects.get(kind=ActivityKind.RENEWAL_DECISION, account=globex)
    assert (
        decision.actor == actor
        and decision.data["renewal"] == term.pk
        and decision.data["source"] == "import"
    )
    again = run(
        "renewals",
        """
Company,Domain,Term start,Term end,ACV,Status,Renewed ACV
,acme.com,2024-02-01,2025-02-01,"12,000",Upcoming,
Globex,,2024-01-01,2025-01-01,100,Renewed,120
""",
    )
    assert again.counts == {"unchanged": 2}
    assert Activity.objects.filter(kind=ActivityKind.RENEWAL_DECISION).count() == 1


def test_bad_renewal_rows_are_skipped_with_their_reasons():
    AccountFactory(name="Acme")
    job = run(
        "renewals",
        """
account,start,end,acv,status,renewed acv
Acme,2024-01-01,2023-01-01,100,,
Acme,2024-13-45,2025-01-01,100,,
Acme,2024-01-01,2025-01-01,100,renewed,
Acme,2024-01-01,2025-01-01,100,churned,50
Acme,2024-01-01,2025-01-01,100,maybe,
Nope Inc,2024-01-01,2025-01-01,100,,
Acme,01/02/2024,01/02/2025,100,,
""",
        options={"day_first": True},
    )
    rows = outcomes(job)
    assert rows[2].reason == "The term must end after it starts."
    assert rows[3].reason == "'2024-13-45' is not a date (use YYYY-MM-DD)."
    assert rows[4].reason == "A renewed term needs its renewed ACV."
    assert rows[5].reason == "A churned term has no renewed ACV."
    assert rows[6].reason.startswith("'maybe' is not a status")
    assert rows[7].reason == "Unknown account: no account has the name 'Nope Inc'."
    assert 8 not in rows and job.counts == {"create": 1, "skip": 6}
    assert Renewal.objects.get().start_date == date(2024, 2, 1)  # day first


# --- Consent -----------------------------------------------------------------------------------


CONSENT = """
email,consent,date,source,disclosure,ip
ann@example.com,opt-in,2025-01-02 10:00,Checkout form,"Yes, text me order updates",203.0.113.7
bob@example.com,yes,2025-01-02,Checkout form,,
cy@example.com,opt-out,2025-01-03,Support call,,
dee@example.com,opt-in,2025-01-03,,Terms v2,
nobody@example.com,opt-in,2025-01-03,Checkout form,Terms v2,
"""


def test_consent_rows_need_a_source_and_opt_ins_need_proof():
    actor = UserFactory(username="importer")
    ann, _, cy, _ = (ContactFactory(email=f"{name}@example.com") for name in ("ann", "bob", "cy", "dee"))
    job = run("consent", CONSENT, actor=actor)
    rows = outcomes(job)
    assert rows[3].action == "skip" and rows[3].reason.startswith("An opt-in needs proof")
    assert (
        rows[5].action == "skip"
        and rows[5].reason == "The source is missing: say where the consent was collected."
    )
    assert rows[6].reason == "Unknown contact: no contact matches contact 'nobody@example.com'."
    assert job.counts == {"create": 2, "skip": 3}
    event = ConsentEvent.objects.get(contact=ann)
    assert event.source == ConsentSource.IMPORT and event.actor == actor
    assert event.occurred_at == datetime(2025, 1, 2, 10, tzinfo=UTC)
    assert event.proof["disclosure"] == "Yes, text me order updates" and event.proof["ip"] == "203.0.113.7"
    assert event.proof["source"] == "Checkout form"
    assert event.proof["import"] == {"job": job.pk, "file": "file.csv", "line": 2}
    # An opt-out is honoured without proof; states and the timeline follow the ledger.
    assert ConsentEvent.objects.get(contact=cy).action == "opt_out"
    states = dict(Contact.objects.values_list("email", "sms_consent"))
    assert states["ann@example.com"] == SmsConsent.OPTED_IN
    assert states["cy@example.com"] == SmsConsent.OPTED_OUT
    assert states["bob@example.com"] == states["dee@example.com"] == SmsConsent.UNKNOWN
    assert Activity.objects.filter(contact=ann, kind=ActivityKind.SMS_OPT_IN).exists()


def test_reimporting_consent_adds_nothing_to_the_ledger():
    for name in ("ann", "bob", "cy", "dee"):
        ContactFactory(email=f"{name}@example.com")
    run("consent", CONSENT)
    again = run("consent", CONSENT)
    assert again.counts == {"unchanged": 2, "skip": 3}
    assert ConsentEvent.objects.count() == 2


def test_consent_in_the_future_is_refused():
    ContactFactory(email="ann@example.com")
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    job = run("consent", f"email,consent,date,source,note\nann@example.com,opt_in,{tomorrow},Form,ok\n")
    assert outcomes(job)[2].reason == "Consent cannot be recorded for a time in the future."
    assert not ConsentEvent.objects.exists()


def test_consent_mapping_needs_the_source_date_and_a_proof_column():
    from crm.imports import importer_class

    problems = importer_class("consent")().check_mapping({"email": "contact_email"}, ["email"])
    assert "Map a column to Action (required)." in problems
    assert "Map a column to Source (required)." in problems
    assert any("the proof of opt-ins" in p for p in problems)
