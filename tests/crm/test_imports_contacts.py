"""Contact imports: mapping, dry run, upsert on the natural keys, bad rows, idempotency."""

import pytest
from django.core.exceptions import ValidationError

from crm.imports import importer_class
from crm.imports.base import ATTRIBUTE
from crm.models import Account, Contact, ImportAction, ImportJob, ImportRowOutcome, ImportStatus
from tests.crm.imports_helpers import outcomes, run, run_job, upload
from tests.factories import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

PEOPLE = """
First Name,Last Name,E-mail Address,Mobile,Company,Website,Plan notes
Ann,Lee,Ann.Lee@Example.com,(212) 200-0001,Acme,https://www.acme.com/,vip
Bob,Stone,bob@example.com,not a phone,Acme,acme.com,
Cy,Young,,+44 20 7946 0958,Globex,,
"""


def test_columns_are_mapped_automatically_from_common_headers():
    job = upload("contacts", PEOPLE)
    assert job.mapping == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "E-mail Address": "email",
        "Mobile": "phone",
        "Company": "account_name",
        "Website": "account_domain",
    }
    assert job.header[-1] == "Plan notes"  # unknown columns are left unmapped (ignored)
    assert job.status == ImportStatus.UPLOADED


def test_mapping_problems_are_named():
    importer = importer_class("contacts")()
    header = ["A", "B", "C"]
    problems = importer.check_mapping({"A": "first_name", "B": "first_name"}, header)
    assert any("Only one column can fill First name" in p for p in problems)
    assert any("something to match contacts on" in p for p in problems)
    assert importer.check_mapping({"Z": "email"}, header) == ["There is no column 'Z' in the file."]
    assert "unknown field 'shoe_size'" in importer.check_mapping({"A": "shoe_size", "B": "email"}, header)[0]
    assert importer.check_mapping({"A": "email", "C": ATTRIBUTE}, header) == []


def test_a_mapping_that_cannot_work_is_refused_before_anything_runs():
    job = upload("contacts", PEOPLE)
    with pytest.raises(ValidationError) as error:
        run_job(job, mapping={"E-mail Address": "", "Mobile": ""})
    assert "something to match contacts on" in str(error.value)
    assert not Contact.objects.exists()


def test_dry_run_plans_every_row_and_writes_nothing():
    existing = ContactFactory(
        email="bob@example.com", first_name="Robert", last_name="Stone", phone="+13125550142"
    )
    job = run("contacts", PEOPLE, dry_run=True)
    assert job.status == ImportStatus.PLANNED
    assert Contact.objects.count() == 1 and Account.objects.count() == 1  # the factory's only
    plan = outcomes(job)
    assert [plan[line].action for line in (2, 3, 4)] == ["create", "update", "create"]
    assert plan[2].reason == "New contact in a new account 'Acme'."
    assert plan[3].reason.startswith(f"Matches Robert Stone (#{existing.pk}) by email; changes first name")
    assert "Phone kept as typed" in plan[3].warnings
    assert job.counts == {"create": 2, "update": 1, "warnings": 1, "accounts created": 2}
    assert job.plan_counts == job.counts


def test_the_run_does_what_the_dry_run_said():
    ContactFactory(email="bob@example.com", first_name="Robert", phone="+13125550142")
    planned = run("contacts", PEOPLE, dry_run=True)
    done = run_job(ImportJob.objects.get(pk=planned.pk))
    assert done.status == ImportStatus.DONE
    assert done.counts == planned.plan_counts
    ann = Contact.objects.get(email="ann.lee@example.com")
    assert (ann.first_name, ann.phone, ann.phone_valid, ann.timezone) == (
        "Ann",
        "+12122000001",
        True,
        "America/New_York",
    )
    assert ann.account.name == "Acme" and ann.account.domain == "acme.com"
    bob = Contact.objects.get(email="bob@example.com")
    assert bob.first_name == "Bob" and bob.account == ann.account
    cy = Contact.objects.get(phone="+442079460958")
    assert cy.account.name == "Globex" and cy.timezone == "Europe/London"
    # The uploaded file is not kept once the rows are in.
    assert not done.chunks.exists()


def test_reimporting_the_same_file_changes_nothing():
    first = run("contacts", PEOPLE, mapping={"Plan notes": ATTRIBUTE})
    assert first.counts["create"] == 3
    before = {c.pk: (c.updated_at, c.attributes) for c in Contact.objects.all()}
    again = run("contacts", PEOPLE, mapping={"Plan notes": ATTRIBUTE})
    assert again.counts.get("create", 0) == 0 and again.counts.get("update", 0) == 0
    assert again.counts["unchanged"] == 3
    assert {c.pk: (c.updated_at, c.attributes) for c in Contact.objects.all()} == before
    assert Account.objects.count() == 2
    assert Contact.objects.get(email="ann.lee@example.com").attributes == {"Plan notes": "vip"}


def test_upsert_matches_on_email_phone_and_external_id_and_only_changes_what_differs():
    by_email = ContactFactory(
        email="ann@example.com", first_name="Ann", last_name="Old", phone="+13125550101"
    )
    by_phone = ContactFactory(email=None, phone="+12122000099", phone_raw="212 200 0099", first_name="Pat")
    by_external = ContactFactory(
        email="x@example.com", external_id="CRM-7", first_name="Xi", phone="+13125550102"
    )
    job = run(
        "contacts",
        """
external id,first name,last name,email,phone
,Ann,New,ANN@example.com,
,Pat,,,(212) 200-0099
CRM-7,Xi,,xi@example.com,
""",
    )
    assert job.counts == {"update": 2, "unchanged": 1}
    by_email.refresh_from_db(), by_phone.refresh_from_db(), by_external.refresh_from_db()
    assert by_email.last_name == "New"
    assert by_phone.phone_raw == "212 200 0099"  # same number typed differently: not a change
    assert by_external.email == "xi@example.com"


def test_blank_cells_leave_current_values_alone():
    owner = UserFactory(username="carol")
    contact = ContactFactory(email="ann@example.com", first_name="Ann", last_name="Lee", owner=owner)
    job = run("contacts", "email,first name,last name,owner\nann@example.com,,,\n")
    assert job.counts == {"unchanged": 1}
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name, contact.owner) == ("Ann", "Lee", owner)


def test_a_row_pointing_at_two_different_contacts_is_skipped_with_both_named():
    ann = ContactFactory(email="ann@example.com", phone="+13125550101")
    bob = ContactFactory(email="bob@example.com", phone="+12122000055")
    job = run("contacts", "email,phone,first name\nann@example.com,212-200-0055,Ann\n")
    row = outcomes(job)[2]
    assert row.action == ImportAction.SKIP
    assert f"#{ann.pk}" in row.reason and f"#{bob.pk}" in row.reason and "merge them first" in row.reason


REPEATS = (
    "email,first name\nann@example.com,Ann\nbob@example.com,Bob\ncy@example.com,Cy\nANN@example.com,Annie\n"
)


def test_rows_repeating_a_key_further_down_are_reported_not_imported_twice(monkeypatch):
    # Small batches, so the repeat lands in a later batch than the first row.
    monkeypatch.setattr(importer_class("contacts"), "batch_size", 2)
    job = run(
        "contacts",
        REPEATS,
    )
    assert Contact.objects.count() == 3
    assert Contact.objects.get(email="ann@example.com").first_name == "Ann"
    assert outcomes(job)[5].reason == "Line 2 has the same email; only the first row with it is imported."
    again = run(
        "contacts",
        REPEATS,
        dry_run=True,
    )
    assert again.counts == {"unchanged": 3, "skip": 1}


def test_a_bad_phone_never_blocks_the_row_but_is_kept_raw_and_reported():
    job = run("contacts", "email,phone\nann@example.com,call me maybe\nbob@example.com,+1 212 100 0000\n")
    ann = Contact.objects.get(email="ann@example.com")
    assert (ann.phone_raw, ann.phone, ann.phone_valid) == ("call me maybe", None, False)
    bob = Contact.objects.get(email="bob@example.com")
    assert (bob.phone, bob.phone_valid) == ("+12121000000", False)  # possible, not assigned
    rows = outcomes(job)
    assert rows[2].action == "create" and "Phone kept as typed" in rows[2].warnings
    assert rows[3].action == "create" and "Kept, marked invalid" in rows[3].warnings
    assert job.counts["warnings"] == 2


def test_a_bad_phone_on_a_row_with_nothing_else_to_key_on_is_skipped():
    job = run("contacts", "first name,phone\nAnn,garbage\nBob,212-200-0007\n")
    rows = outcomes(job)
    assert rows[2].action == "skip"
    assert rows[2].reason == (
        "'garbage' is not a phone number (not a number). "
        "The row has no email or external id to match on either."
    )
    assert Contact.objects.get().phone == "+12122000007"


def test_an_unparseable_phone_never_replaces_a_number_we_can_text():
    contact = ContactFactory(email="ann@example.com", phone="+12122000001")
    job = run("contacts", "email,phone\nann@example.com,n/a\n")
    contact.refresh_from_db()
    assert contact.phone == "+12122000001"
    assert "Kept the current phone +12122000001" in outcomes(job)[2].warnings


def test_bad_rows_are_skipped_with_reasons_and_the_good_ones_still_go_in():
    job = run(
        "contacts",
        """
email,first name,account id,timezone,acquisition channel,owner
good@example.com,Good,,Mars/Olympus,carrier pigeon,nobody
not-an-email,Bad,,,,
,,,,,
orphan@example.com,Orphan,999999,,,
""",
    )
    rows = outcomes(job)
    assert rows[2].action == "create"
    assert "not an IANA timezone" in rows[2].warnings and "channel" in rows[2].warnings
    assert "No active user 'nobody'" in rows[2].warnings
    assert rows[3].action == "skip" and rows[3].reason == "'not-an-email' is not an email address."
    assert 4 not in rows  # a blank line is not a row
    assert rows[5].action == "skip" and rows[5].reason == "Unknown account: no account has id 999999."
    assert list(Contact.objects.values_list("email", flat=True)) == ["good@example.com"]


def test_unknown_account_names_are_errors_when_creating_accounts_is_off():
    AccountFactory(name="Acme")
    job = run(
        "contacts",
        "email,company\nann@example.com,ACME\nbob@example.com,Initech\n",
        options={"create_accounts": False},
    )
    rows = outcomes(job)
    assert Contact.objects.get(email="ann@example.com").account.name == "Acme"
    assert (
        rows[3].action == "skip" and rows[3].reason == "Unknown account: no account has the name 'Initech'."
    )
    assert not Account.objects.filter(name="Initech").exists()


def test_two_accounts_with_one_name_are_ambiguous():
    AccountFactory(name="Acme", domain="acme.com")
    AccountFactory(name="Acme", domain="acme.co.uk")
    job = run("contacts", "email,company\nann@example.com,Acme\n")
    assert outcomes(job)[2].reason == "2 accounts have the name 'Acme': use the account id or domain."


def test_a_rejected_row_leaves_no_partial_record_behind():
    job = run("contacts", "email,company\nnot-an-email,Brand New Co\n")
    assert job.counts == {"skip": 1}
    assert not Account.objects.filter(name="Brand New Co").exists()


def test_a_batch_the_database_refuses_is_planned_and_written_again_row_by_row(monkeypatch):
    """Another writer takes an email between the plan and the write: the batch is rolled back
    and retried row by row, each planned again (the row now updates what the other writer
    saved) and written in its own savepoint, so no account is created twice."""
    importer = importer_class("contacts")
    original_plan = importer.plan
    raced = []

    def plan_then_race(self, rows):
        original_plan(self, rows)
        if not raced and not self.dry_run:
            raced.append(Contact.objects.create(email="taken@example.com"))

    monkeypatch.setattr(importer, "plan", plan_then_race)
    job = run(
        "contacts",
        "email,company\nfirst@example.com,Old Co\ntaken@example.com,Race Co\nlast@example.com,Old Co\n",
    )
    # Re-planned alone, the row now matches the contact the other writer saved.
    assert job.counts == {"create": 2, "update": 1, "accounts created": 2}
    assert set(Contact.objects.values_list("email", flat=True)) == {
        "first@example.com",
        "taken@example.com",
        "last@example.com",
    }
    assert Account.objects.filter(name="Old Co").count() == 1
    assert Contact.objects.get(email="taken@example.com").account.name == "Race Co"


def test_full_name_column_is_split_and_custom_columns_become_attributes():
    run(
        "contacts",
        'Name,Email,Shoe size\n"Lee, Ann",ann@example.com,38\nBob van Stone,bob@example.com,\n',
        mapping={"Shoe size": ATTRIBUTE},
    )
    ann = Contact.objects.get(email="ann@example.com")
    assert (ann.first_name, ann.last_name, ann.attributes) == ("Ann", "Lee", {"Shoe size": "38"})
    bob = Contact.objects.get(email="bob@example.com")
    assert (bob.first_name, bob.last_name, bob.attributes) == ("Bob van", "Stone", {})


def test_phone_region_comes_from_the_row_or_the_import_options():
    run(
        "contacts",
        "email,phone,country\nann@example.com,020 7946 0958,GB\nbob@example.com,030 123456,\n",
        options={"phone_region": "DE"},
    )
    assert Contact.objects.get(email="ann@example.com").phone == "+442079460958"
    assert Contact.objects.get(email="bob@example.com").phone.startswith("+4930")


def test_import_outcomes_of_a_run_keep_only_rows_with_problems():
    job = run("contacts", PEOPLE)
    kept = ImportRowOutcome.objects.filter(job=job, phase="run")
    assert [(o.line, o.action) for o in kept] == [(3, "create")]  # Bob's phone warning
    assert kept[0].cells == ["Bob", "Stone", "bob@example.com", "not a phone", "Acme", "acme.com", ""]


def test_the_external_id_imports_match_on_is_in_the_api(api):
    contact = ContactFactory(external_id="CRM-1")
    ContactFactory(external_id=None)
    listed = api.get("/api/v1/contacts/", {"external_id": "CRM-1"}).json()
    assert [c["id"] for c in listed["results"]] == [contact.pk] and listed["results"][0][
        "external_id"
    ] == "CRM-1"
    taken = api.post("/api/v1/contacts/", {"first_name": "Dup", "external_id": "CRM-1"})
    assert taken.status_code == 400 and "external_id" in taken.json()
    blank = api.post("/api/v1/contacts/", {"first_name": "None", "external_id": ""})
    assert blank.status_code == 201 and blank.json()["external_id"] is None
