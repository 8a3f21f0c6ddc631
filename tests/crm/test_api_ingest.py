"""REST API: orders and events, posted singly or in batches, idempotent on external_id."""

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.api.batch import MAX_BATCH_SIZE
from crm.models import Event, Order
from tests.factories import AccountFactory, ContactFactory, EventFactory, OrderFactory

pytestmark = pytest.mark.django_db


def _order(contact, external_id, amount="80.00", **extra) -> dict:
    return {
        "contact": contact.pk,
        "amount": amount,
        "gross_margin": "0.6200",
        "ordered_at": "2025-04-01T10:00:00Z",
        "external_id": external_id,
        **extra,
    }


def _event(contact, external_id, name="login", **extra) -> dict:
    return {
        "contact": contact.pk,
        "account": contact.account_id,
        "name": name,
        "properties": {"ratio": 0.9},
        "occurred_at": "2025-04-01T10:00:00Z",
        "external_id": external_id,
        **extra,
    }


# --- Orders -----------------------------------------------------------------------------------


def test_single_order_post_returns_the_order(api):
    contact = ContactFactory()
    response = api.post("/api/v1/orders/", _order(contact, "shop-1"))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["external_id"] == "shop-1"
    assert body["account"] == contact.account_id  # taken from the contact
    assert (body["amount"], body["gross_margin"]) == ("80.00", "0.6200")
    order = Order.objects.get()
    assert (order.pk, order.amount) == (body["id"], Decimal("80.00"))


def test_single_order_repost_is_idempotent_and_updates_amount(api):
    contact = ContactFactory()
    first = api.post("/api/v1/orders/", _order(contact, "shop-1")).json()
    again = api.post("/api/v1/orders/", _order(contact, "shop-1"))
    assert again.status_code == 201
    assert again.json()["id"] == first["id"]
    changed = api.post("/api/v1/orders/", _order(contact, "shop-1", amount="95.50")).json()
    assert changed["id"] == first["id"]
    assert Order.objects.get().amount == Decimal("95.50")


def test_order_batch_reports_counts_and_is_idempotent(api):
    contact = ContactFactory()
    batch = [_order(contact, f"shop-{index}") for index in range(3)]

    first = api.post("/api/v1/orders/", batch)
    assert first.status_code == 201, first.json()
    assert (first.json()["created"], first.json()["updated"]) == (3, 0)
    assert [row["external_id"] for row in first.json()["results"]] == ["shop-0", "shop-1", "shop-2"]

    again = api.post("/api/v1/orders/", batch).json()
    assert (again["created"], again["updated"]) == (0, 3)
    assert [row["id"] for row in again["results"]] == [row["id"] for row in first.json()["results"]]
    assert Order.objects.count() == 3

    batch[1]["amount"] = "120.00"
    batch.append(_order(contact, "shop-3"))
    changed = api.post("/api/v1/orders/", batch).json()
    assert (changed["created"], changed["updated"]) == (1, 3)
    assert Order.objects.get(external_id="shop-1").amount == Decimal("120.00")
    assert Order.objects.get(external_id="shop-0").amount == Decimal("80.00")
    assert Order.objects.count() == 4


def test_orders_without_external_id_are_always_added(api):
    contact = ContactFactory()
    rows = [_order(contact, None), _order(contact, "")]
    assert api.post("/api/v1/orders/", rows).json()["created"] == 2
    assert api.post("/api/v1/orders/", rows).json()["created"] == 2
    assert Order.objects.count() == 4


def test_bad_item_rejects_the_whole_batch_with_errors_by_index(api):
    contact = ContactFactory()
    batch = [
        _order(contact, "ok-0"),
        _order(contact, "bad-1", amount="lots"),
        _order(contact, "ok-2"),
        {**_order(contact, "bad-3"), "contact": 999999},
        {"amount": "1.00", "ordered_at": "2025-04-01T10:00:00Z"},
    ]
    response = api.post("/api/v1/orders/", batch)
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"1", "3", "4"}
    assert list(errors["1"]) == ["amount"]
    assert errors["3"] == {"contact": ['Invalid pk "999999" - object does not exist.']}
    assert set(errors["4"]) == {"contact", "account"}
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"contact": None}, "contact"),  # neither contact nor account
        ({"contact": "x"}, "contact"),
        ({"contact": True}, "contact"),
        ({"contact": 99999999999999999999999}, "contact"),
        ({"account": 999999}, "account"),
        ({"gross_margin": "62"}, "gross_margin"),  # a percentage where a fraction belongs
        ({"amount": "NaN"}, "amount"),
        ({"ordered_at": "April"}, "ordered_at"),
        ({"external_id": "x" * 201}, "external_id"),
    ],
)
def test_single_order_bad_input_names_the_field(api, change, field):
    response = api.post("/api/v1/orders/", {**_order(ContactFactory(), "o-1"), **change})
    assert response.status_code == 400
    assert field in response.json()
    assert not Order.objects.exists()


def test_order_contact_of_another_account_is_400(api):
    contact = ContactFactory()
    other = AccountFactory()
    response = api.post("/api/v1/orders/", [_order(contact, "o-1", account=other.pk)])
    assert response.status_code == 400
    assert list(response.json()["0"]) == ["contact"]
    assert not Order.objects.exists()


def test_order_for_a_b2c_contact_without_account(api):
    contact = ContactFactory(account=None)
    response = api.post("/api/v1/orders/", _order(contact, "b2c-1"))
    assert response.status_code == 201, response.json()
    assert response.json()["account"] is None


def test_batch_size_is_limited(api):
    contact = ContactFactory()
    too_many = [_order(contact, f"o-{index}") for index in range(MAX_BATCH_SIZE + 1)]
    response = api.post("/api/v1/orders/", too_many)
    assert response.status_code == 400
    assert f"at most {MAX_BATCH_SIZE}" in response.json()["non_field_errors"][0]
    assert not Order.objects.exists()


def test_non_object_body_is_400(api):
    response = api.post("/api/v1/orders/", "42", content_type="application/json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert api.post("/api/v1/orders/", [1, "two"]).json().keys() == {"0", "1"}


def test_empty_batch_stores_nothing(api):
    response = api.post("/api/v1/orders/", [])
    assert response.status_code == 201
    assert response.json() == {"created": 0, "updated": 0, "results": []}


def test_form_encoded_orders_are_415(api):
    response = api.post("/api/v1/orders/", {"amount": "1"}, format="multipart")
    assert response.status_code == 415


def test_order_filters(api):
    now = timezone.now()
    old = OrderFactory(ordered_at=now - timedelta(days=60), external_id="old")
    new = OrderFactory(ordered_at=now, external_id="new", attribution="sms:spring")

    def ids(**params):
        response = api.get("/api/v1/orders/", params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids(contact=old.contact_id) == [old.pk]
    assert ids(account=new.account_id) == [new.pk]
    assert ids(external_id="old") == [old.pk]
    assert ids(ordered_at_after=(now - timedelta(days=7)).isoformat()) == [new.pk]
    assert ids(search="spring") == [new.pk]
    assert ids() == [new.pk, old.pk]
    assert ids(ordering="ordered_at") == [old.pk, new.pk]


# --- Events -----------------------------------------------------------------------------------


def test_event_batch_is_idempotent(api):
    contact = ContactFactory()
    batch = [_event(contact, "evt-1"), _event(contact, "evt-2", name="seat_limit_90")]
    first = api.post("/api/v1/events/", batch)
    assert first.status_code == 201, first.json()
    assert (first.json()["created"], first.json()["updated"]) == (2, 0)
    assert first.json()["results"][1]["properties"] == {"ratio": 0.9}
    again = api.post("/api/v1/events/", batch).json()
    assert (again["created"], again["updated"]) == (0, 2)
    assert Event.objects.count() == 2


def test_single_event_post(api):
    account = AccountFactory()
    response = api.post(
        "/api/v1/events/",
        {"account": account.pk, "name": "integration_connected", "occurred_at": "2025-04-02T08:00:00Z"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["account"], body["contact"], body["properties"]) == (account.pk, None, {})
    assert body["received_at"] is not None


def test_event_bad_items(api):
    contact = ContactFactory()
    response = api.post(
        "/api/v1/events/",
        [
            _event(contact, "e-0", account=AccountFactory().pk),
            _event(contact, "e-1", properties=["not", "an", "object"]),
            _event(contact, "e-2", name=""),
        ],
    )
    assert response.status_code == 400
    errors = response.json()
    assert (list(errors["0"]), list(errors["1"]), list(errors["2"])) == (
        ["contact"],
        ["properties"],
        ["name"],
    )
    assert not Event.objects.exists()


def test_event_filters(api):
    now = timezone.now()
    login = EventFactory(name="login", occurred_at=now - timedelta(days=1))
    seats = EventFactory(name="seat_limit_90", occurred_at=now - timedelta(days=20), external_id="s-1")

    def ids(**params):
        return [row["id"] for row in api.get("/api/v1/events/", params).json()["results"]]

    assert ids(name="login") == [login.pk]
    assert ids(account=seats.account_id) == [seats.pk]
    assert ids(contact=login.contact_id) == [login.pk]
    assert ids(occurred_at_before=(now - timedelta(days=10)).isoformat()) == [seats.pk]
    assert ids(external_id="s-1") == [seats.pk]


def _insert_batches(model, rows: int) -> int:
    """How many INSERT statements the database needs for ``rows`` rows (SQLite caps a statement
    at 999 parameters, so Django splits a large bulk insert; PostgreSQL needs one)."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    return math.ceil(rows / connection.ops.bulk_batch_size(fields, [None] * rows))


def test_event_batch_costs_the_same_queries_whatever_its_size(api, django_assert_max_num_queries):
    contact = ContactFactory()
    api.get("/api/v1/accounts/")  # token use is recorded once a minute; keep that out of the count

    with CaptureQueriesContext(connection) as small:
        response = api.post("/api/v1/events/", [_event(contact, f"s-{index}") for index in range(2)])
    assert response.status_code == 201

    # No query per item: only the database's own insert batching may add statements.
    budget = len(small) + _insert_batches(Event, 200) - _insert_batches(Event, 2)
    with django_assert_max_num_queries(budget):
        response = api.post("/api/v1/events/", [_event(contact, f"b-{index}") for index in range(200)])
    assert response.status_code == 201
    assert response.json()["created"] == 200
    assert Event.objects.count() == 202


def test_order_batch_resolves_references_once_per_model(api, django_assert_max_num_queries):
    contacts = ContactFactory.create_batch(3)
    api.get("/api/v1/accounts/")
    rows = [
        _order(contacts[index % 3], f"o-{index}", account=contacts[index % 3].account_id)
        for index in range(90)
    ]
    # token + contacts + accounts + existing keys + savepoint/insert/release + read back
    with django_assert_max_num_queries(8):
        response = api.post("/api/v1/orders/", rows)
    assert response.status_code == 201, response.json()
    assert Order.objects.count() == 90
