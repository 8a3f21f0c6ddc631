"""CSV exports of the list pages: current filters, streaming, constant queries, no formulas."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from crm.exports import csv_safe
from tests.crm.imports_helpers import run
from tests.factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    RenewalFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _rows(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("+12125550100", "+12125550100"),
        ("-15.00", "-15.00"),
        ("Ann", "Ann"),
        (Decimal("-15.00"), "-15.00"),
        (None, ""),
        (True, "true"),
    ],
)
def test_cells_that_a_spreadsheet_would_run_as_formulas_are_quoted(value, cell):
    assert csv_safe(value) == cell


def test_contact_export_honours_the_list_filters(web):
    acme = AccountFactory(name="Acme")
    ContactFactory(
        account=acme, first_name="=Ann", last_name="Lee", email="ann@example.com", phone="+13125550101"
    )
    ContactFactory(account=acme, first_name="Bob", email="bob@example.com", sms_consent="opted_in")
    ContactFactory(first_name="Cy", email="cy@example.com")
    rows = _rows(web.get(reverse("contact_export"), {"account": acme.pk}))
    header = rows[0]
    assert header[:6] == ["Contact id", "External id", "First name", "Last name", "Email", "Phone"]
    by_email = {row[4]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_email) == {"ann@example.com", "bob@example.com"}
    ann = by_email["ann@example.com"]
    assert ann["First name"] == "'=Ann" and ann["Phone"] == "+13125550101" and ann["Account name"] == "Acme"
    filtered = _rows(web.get(reverse("contact_export"), {"account": acme.pk, "consent": "opted_in"}))
    assert [row[4] for row in filtered[1:]] == ["bob@example.com"]
    searched = _rows(web.get(reverse("contact_export"), {"q": "cy"}))
    assert [row[4] for row in searched[1:]] == ["cy@example.com"]


def test_exports_read_in_a_constant_number_of_queries(web, django_assert_max_num_queries):
    acme = AccountFactory()
    for index in range(30):
        ContactFactory(account=acme, owner=acme.owner, email=f"p{index}@example.com")
    # The session, the user, the filter form's choices, the custom fields, one query for every row.
    with django_assert_max_num_queries(5):
        assert len(_rows(web.get(reverse("contact_export")))) == 31
    with django_assert_max_num_queries(6):
        assert len(_rows(web.get(reverse("account_export")))) == 2


def test_an_exported_contact_list_imports_back_unchanged(web):
    acme = AccountFactory(name="Acme", domain="acme.com")
    ContactFactory(
        account=acme, first_name="=Ann", email="ann@example.com", external_id="X-1", timezone="Europe/Paris"
    )
    ContactFactory(account=acme, first_name="Bob", email="bob@example.com", phone="+442079460958")
    response = web.get(reverse("contact_export"))
    data = b"".join(response.streaming_content)
    job = run("contacts", data)
    assert job.counts == {"unchanged": 2}


def test_account_renewal_task_and_deal_exports(web, user):
    acme = AccountFactory(name="Acme", plan="growth", owner=user)
    AccountFactory(name="Globex", plan="starter")
    rows = _rows(web.get(reverse("account_export"), {"plan": "growth"}))
    assert [row[1] for row in rows[1:]] == ["Acme"]
    assert rows[1][rows[0].index("Owner")] == user.username
    soon = timezone.localdate() + timedelta(days=20)
    RenewalFactory(account=acme, start_date=soon - timedelta(days=365), end_date=soon, acv=Decimal("1200"))
    RenewalFactory(account=acme, start_date=soon, end_date=soon + timedelta(days=365))
    renewals = _rows(web.get(reverse("renewal_export"), {"due": "30", "status": "upcoming"}))
    assert len(renewals) == 2 and renewals[1][renewals[0].index("ACV")] == "1200.00"
    TaskFactory(owner=user, title="Call Acme")
    TaskFactory(owner=UserFactory(), title="Someone else's")
    tasks = _rows(web.get(reverse("task_export")))
    assert [row[1] for row in tasks[1:]] == ["Call Acme"]
    DealFactory(account=acme, owner=user, name="Acme expansion", kind="expansion")
    DealFactory(account=acme, name="Acme new", kind="new")
    deals = _rows(web.get(reverse("deal_export"), {"kind": "expansion"}))
    assert [row[1] for row in deals[1:]] == ["Acme expansion"]


def test_list_pages_link_to_their_export_with_the_current_filters(web):
    acme = AccountFactory()
    page = web.get(reverse("contact_list"), {"account": acme.pk}).content.decode()
    assert f'href="{reverse("contact_export")}?account={acme.pk}"' in page
    for name, export in (
        ("account_list", "account_export"),
        ("renewal_list", "renewal_export"),
        ("task_list", "task_export"),
        ("deal_board", "deal_export"),
    ):
        assert reverse(export) in web.get(reverse(name)).content.decode()
