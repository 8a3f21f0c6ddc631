"""Data hygiene of contact imports: the dry run shows old -> new per field, "keep existing
values" only fills blanks, and every updated contact gets one timeline entry naming its changes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.imports.base import ATTRIBUTE
from crm.models import Activity, ActivityKind, Contact
from tests.crm.imports_helpers import outcomes, run, run_job, upload
from tests.factories import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

UPDATE = """
email,first name,last name,company,owner,tier
ann@example.com,Ann,Newname,Globex,carol,gold
bob@example.com,Bob,Stone,,,
"""


@pytest.fixture
def people():
    carol = UserFactory(username="carol", first_name="Carol", last_name="King")
    acme = AccountFactory(name="Acme")
    AccountFactory(name="Globex")
    ann = ContactFactory(
        email="ann@example.com", first_name="Ann", last_name="Lee", account=acme, owner=None, attributes={}
    )
    bob = ContactFactory(email="bob@example.com", first_name="", last_name="Stone", account=acme)
    return carol, ann, bob


def test_the_dry_run_shows_old_and_new_values_of_each_changed_field(people):
    _, ann, _bob = people
    job = run("contacts", UPDATE, dry_run=True, mapping={"tier": ATTRIBUTE})
    rows = outcomes(job)
    assert rows[2].action == "update"
    assert rows[2].changes == [
        ["last name", "Lee", "Newname"],
        ["owner", "", "Carol King"],
        ["account", "Acme", "Globex"],
        ["tier", "", "gold"],
    ]
    assert rows[3].changes == [["first name", "", "Bob"]]
    ann.refresh_from_db()
    assert ann.last_name == "Lee" and not Activity.objects.exists()  # a dry run writes nothing


def test_the_dry_run_page_lists_the_changes(people, client):
    carol, _, _ = people
    job = run("contacts", UPDATE, dry_run=True)
    client.force_login(carol)
    page = client.get(job.get_absolute_url()).content.decode()
    assert "<del>Lee</del> → <ins>Newname</ins>" in page


def test_keep_existing_values_only_fills_blanks_in_the_dry_run_and_the_run(people):
    _, ann, bob = people
    options = {"keep_existing": True}
    job = upload("contacts", UPDATE, options=options)
    planned = run_job(job, dry_run=True, mapping={"tier": ATTRIBUTE})
    rows = outcomes(planned)
    # Ann keeps her last name and account; her blank owner and new attribute are filled.
    assert rows[2].changes == [["owner", "", "Carol King"], ["tier", "", "gold"]]
    assert rows[3].changes == [["first name", "", "Bob"]]
    run_job(planned)
    ann.refresh_from_db(), bob.refresh_from_db()
    assert (ann.last_name, ann.account.name, ann.owner.username) == ("Lee", "Acme", "carol")
    assert ann.attributes == {"tier": "gold"}
    assert bob.first_name == "Bob"


def test_without_keep_existing_the_run_overwrites(people):
    _, ann, _ = people
    run("contacts", UPDATE)
    ann.refresh_from_db()
    assert (ann.last_name, ann.account.name) == ("Newname", "Globex")


def test_the_upload_form_offers_keep_existing(people, client):
    carol, _, _ = people
    job = upload("contacts", UPDATE)
    client.force_login(carol)
    assert 'name="keep_existing"' in client.get(job.get_absolute_url()).content.decode()


def test_each_updated_contact_gets_one_timeline_entry_listing_its_changes(people):
    carol, ann, bob = people
    job = run("contacts", UPDATE + "new@example.com,New,Person,,,\n", actor=carol)
    entries = Activity.objects.filter(kind=ActivityKind.RECORD_IMPORTED).order_by("contact_id")
    assert [entry.contact_id for entry in entries] == sorted([ann.pk, bob.pk])  # not the created one
    ann_entry = entries.get(contact=ann)
    assert ann_entry.summary == "Import of file.csv changed last name, owner, account."
    assert ann_entry.actor == carol
    assert ann_entry.account.name == "Globex"  # filed on the account the contact now belongs to
    assert ann_entry.data["import_job"] == job.pk
    assert ["last name", "Lee", "Newname"] in ann_entry.data["changes"]


def test_unchanged_rows_leave_nothing_on_the_timeline(people):
    run("contacts", "email,last name\nann@example.com,Lee\n")
    assert not Activity.objects.filter(kind=ActivityKind.RECORD_IMPORTED).exists()


def _csv(count: int, offset: int = 0) -> str:
    lines = ["email,first name,last name,owner"]
    lines += [f"p{n}@example.com,First{n},Changed{n},carol" for n in range(offset, offset + count)]
    return "\n".join(lines) + "\n"


def _queries_to_import(count: int, offset: int) -> int:
    for n in range(offset, offset + count):
        ContactFactory(email=f"p{n}@example.com", first_name=f"First{n}", last_name="Old", owner=None)
    job = upload("contacts", _csv(count, offset))
    with CaptureQueriesContext(connection) as queries:
        run_job(job)
    assert (
        Activity.objects.filter(
            kind=ActivityKind.RECORD_IMPORTED,
            contact__email__in=[f"p{n}@example.com" for n in range(offset, offset + count)],
        ).count()
        == count
    )
    return len(queries)


def test_the_import_with_its_timeline_is_a_constant_number_of_queries(people):
    few = _queries_to_import(3, 0)
    many = _queries_to_import(40, 100)
    assert many == few
    assert Contact.objects.filter(last_name__startswith="Changed").count() == 43
