"""The same search on both backends: PostgreSQL reads its trigram indexes, SQLite its FTS5
trigram index (crm/fts.py), and on the same fixture both find exactly the records listed here
(CI runs this module on each). On SQLite the index path is also checked against plain LIKE,
and kept current by its triggers through every kind of write."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from crm import fts, search, services
from crm.models import Account, Contact, Deal
from tests.factories import AccountFactory, ContactFactory, DealFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book():
    """Names that share fragments, an accent, an email domain, a phone in national format."""
    zephyr = AccountFactory(name="Zephyr Analytics", domain="zephyr.example")
    kite = AccountFactory(name="Kite & Co", domain="kite.example")
    people = {
        "kai": ContactFactory(
            account=zephyr,
            first_name="Kai",
            last_name="Tanaka",
            email="kai@zephyr.example",
            phone="+12122014242",
        ),
        "kaia": ContactFactory(
            account=kite,
            first_name="Kaia",
            last_name="Patel",
            email="kaia.p@kite.example",
            phone="+12122019999",
        ),
        "raj": ContactFactory(
            account=kite, first_name="Raj", last_name="Patel", email="raj@mail.example", phone="+14155550100"
        ),
        "ana": ContactFactory(first_name="Ana", last_name="Tanaka-Ng", email=None, phone="+14155550199"),
        "jose": ContactFactory(first_name="José", last_name="Álvarez", email="jose@zephyr.example", phone=""),
    }
    deals = {
        "expansion": DealFactory(name="Zephyr expansion", account=zephyr, contact=people["kai"]),
        "renewal": DealFactory(name="Kite renewal", account=kite, contact=None),
    }
    return people, {"zephyr": zephyr, "kite": kite}, deals


# query -> (contacts, accounts, deals) found, by fixture key
EXPECTED = {
    "patel": ({"kaia", "raj"}, set(), set()),
    "kai tanak": ({"kai"}, set(), {"expansion"}),
    "KAI": ({"kai", "kaia"}, set(), {"expansion"}),
    "tanaka-ng": ({"ana"}, set(), set()),
    "zephyr.exa": ({"kai", "jose"}, {"zephyr"}, {"expansion"}),
    "@mail.ex": ({"raj"}, set(), set()),
    "kite.example": ({"kaia"}, {"kite"}, {"renewal"}),
    "& co": (set(), {"kite"}, {"renewal"}),
    "(212) 201-4242": ({"kai"}, set(), {"expansion"}),
    "555-0199": ({"ana"}, set(), set()),
    "José": ({"jose"}, set(), set()),
    "ka": ({"kai", "kaia", "ana"}, set(), {"expansion"}),  # two letters: the LIKE fallback
    "k": ({"kai", "kaia", "ana"}, {"kite"}, {"expansion", "renewal"}),
    "raj zz": (set(), set(), set()),
    'ka"i': (set(), set(), set()),
}


def found(q: str, book) -> tuple[set, set, set]:
    people, accounts, deals = book
    names = {
        model: {obj.pk: key for key, obj in objects.items()}
        for model, objects in ((Contact, people), (Account, accounts), (Deal, deals))
    }
    return (
        {
            names[Contact][pk]
            for pk in search.contacts_search(Contact.objects.all(), q).values_list("pk", flat=True)
        },
        {
            names[Account][pk]
            for pk in search.accounts_search(Account.objects.all(), q).values_list("pk", flat=True)
        },
        {names[Deal][pk] for pk in search.deals_search(Deal.objects.all(), q).values_list("pk", flat=True)},
    )


@pytest.mark.parametrize("q", EXPECTED)
def test_both_backends_find_the_same_records(book, q):
    assert found(q, book) == EXPECTED[q]


@pytest.mark.parametrize("q", ["patel", "kai tanak", "(212) 201-4242", "zephyr.exa"])
def test_the_list_the_api_and_the_box_agree(book, q, web, api):
    contacts = {book[0][key].pk for key in EXPECTED[q][0]}
    assert {c.pk for c in web.get(reverse("contact_list"), {"q": q}).context["page_obj"]} == contacts
    assert {row["id"] for row in api.get("/api/v1/contacts/", {"search": q}).json()["results"]} == contacts
    box = web.get(reverse("global_search"), {"q": q}).context["groups"][0]
    assert {hit.url for hit in box.hits} == {Contact(pk=pk).get_absolute_url() for pk in contacts}


sqlite_only = pytest.mark.skipif("not fts.fts_available(connection)", reason="the SQLite FTS5 path")


@sqlite_only
@pytest.mark.parametrize("q", EXPECTED)
def test_on_sqlite_the_index_finds_what_like_finds(book, q, monkeypatch, django_assert_num_queries):
    with_index = found(q, book)
    monkeypatch.setattr(fts, "fts_available", lambda connection: False)
    assert found(q, book) == with_index


@sqlite_only
def test_on_sqlite_the_search_reads_the_fts_index(book):
    sql = str(search.contacts_search(Contact.objects.all(), "kai tanak").query)
    assert "crm_contact_fts MATCH" in sql and "LIKE" not in sql
    plan = str(search.contacts_search(Contact.objects.all(), "ka").query)
    assert "LIKE" in plan and "MATCH" not in plan  # too short for trigrams


@sqlite_only
def test_on_sqlite_the_index_follows_every_write(book):
    people, accounts, _ = book
    services.contact_update(contact=people["raj"], last_name="Okafor")
    assert found("patel", book)[0] == {"kaia"} and found("okafor", book)[0] == {"raj"}
    Contact.objects.filter(pk=people["kaia"].pk).update(email="kaia@new.example")  # a bulk write
    assert found("new.exa", book)[0] == {"kaia"} and found("kite.example", book)[0] == set()
    Account.objects.filter(pk=accounts["kite"].pk).update(name="Falcon Ltd")
    assert found("falcon", book)[1] == {"kite"}
    services.contacts_delete(contact_ids=[people["ana"].pk])
    assert search.contacts_search(Contact.objects.all(), "tanaka").count() == 1
    fresh = services.contact_create(first_name="Zed", last_name="Patelski", phone="(212) 201-5555")
    assert set(search.contacts_search(Contact.objects.all(), "patel").values_list("pk", flat=True)) == {
        people["kaia"].pk,
        fresh.pk,
    }
    with connection.cursor() as cursor:  # the index agrees with its table (FTS5's own check)
        cursor.execute("INSERT INTO crm_contact_fts(crm_contact_fts) VALUES ('integrity-check')")


@sqlite_only
def test_on_sqlite_a_lost_trigger_comes_back_after_migrate(book):
    """A SQLite migration that remakes the contact table drops its triggers; the next
    ``migrate`` puts them back and rebuilds the index from the table."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER crm_contact_fts_insert")
    late = ContactFactory(first_name="Quentin", last_name="Latecomer")
    assert search.contacts_search(Contact.objects.all(), "latecomer").count() == 0
    call_command("migrate", verbosity=0)
    assert list(search.contacts_search(Contact.objects.all(), "latecomer")) == [late]
