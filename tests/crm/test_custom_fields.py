"""Custom fields (issue 20): typed fields of accounts and contacts defined on a settings page,
shown and edited on records, checked by the API and imports, filterable on the lists and in the
API (``attr.<key>``), kept by saved views."""

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import custom_fields, services
from crm.imports.base import ATTRIBUTE
from crm.models import Account, Contact, CustomField, SavedView
from tests.crm.imports_helpers import outcomes, run
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db

TIERS = [["gold", "Gold"], ["silver", "Silver"], ["bronze", "Bronze"]]


def define(key, field_type, object_type="contact", **extra) -> CustomField:
    label = extra.pop("label", key.replace("_", " ").capitalize())
    return services.custom_field_save(
        object_type=object_type, key=key, label=label, field_type=field_type, **extra
    )


@pytest.fixture
def admin(user):
    user.role = "admin"
    user.save()
    return user


# --- Values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field_type", "raw", "expected"),
    [
        ("text", "  hello ", "hello"),
        ("number", "1,200", 1200),
        ("number", 2.5, 2.5),
        ("number", "3.0", 3),
        ("date", "2027-03-01", "2027-03-01"),
        ("date", "2027-03-01T10:00:00Z", "2027-03-01"),
        ("yes_no", "Yes", True),
        ("yes_no", False, False),
        ("choice", "Gold", "gold"),  # by label, any case
        ("multi_choice", "bronze; Gold", ["gold", "bronze"]),  # in the choices' order
        ("multi_choice", ["silver"], ["silver"]),
        ("text", "", None),
    ],
)
def test_values_are_read_into_their_canonical_form(field_type, raw, expected):
    field = CustomField(key="f", label="F", field_type=field_type, choices=TIERS)
    assert custom_fields.parse(field, raw) == expected


@pytest.mark.parametrize(
    ("field_type", "raw", "message"),
    [
        ("number", "ten", "'ten' is not a number"),
        ("number", True, "True is not a number"),
        ("number", "1e400", "'1e400' is not a number"),
        ("date", "03/01/2027", "'03/01/2027' is not a date (YYYY-MM-DD)"),
        ("date", "1800-01-01", "is not a date"),
        ("yes_no", "maybe", "'maybe' is not yes or no"),
        ("choice", "platinum", "'platinum' is not one of gold, silver, bronze"),
        ("multi_choice", "gold;tin", "'tin' is not one of gold, silver, bronze"),
        ("text", {"a": 1}, "is not text"),
    ],
)
def test_values_that_do_not_fit_say_why(field_type, raw, message):
    field = CustomField(key="f", label="F", field_type=field_type, choices=TIERS)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        custom_fields.parse(field, raw)


# --- Definitions ----------------------------------------------------------------------------


def test_only_admins_reach_the_settings_page(client, user):
    for role in ("agent", "manager"):
        user.role = role
        user.save()
        client.force_login(user)
        assert client.get(reverse("custom_field_list")).status_code == 403
        response = client.post(
            reverse("custom_field_list"), {"object_type": "contact", "label": "Tier", "field_type": "text"}
        )
        assert response.status_code == 403
    field = define("tier", "text")
    assert client.post(reverse("custom_field_delete", args=[field.pk])).status_code == 403
    assert client.post(reverse("custom_field_move", args=[field.pk])).status_code == 403
    assert client.get(reverse("custom_field_edit", args=[field.pk])).status_code == 403
    assert CustomField.objects.count() == 1


def test_an_admin_adds_a_field_with_a_key_from_its_label_and_it_is_in_the_change_history(web, admin):
    response = web.post(
        reverse("custom_field_list"),
        {
            "object_type": "contact",
            "label": "Plan tier",
            "field_type": "choice",
            "choices": "gold = Gold\nsilver = Silver",
            "show_in_list": "on",
        },
    )
    assert response.status_code == 302
    field = CustomField.objects.get()
    assert (field.key, field.label, field.choices, field.show_in_list) == (
        "plan_tier",
        "Plan tier",
        [["gold", "Gold"], ["silver", "Silver"]],
        True,
    )
    entry = LogEntry.objects.get_for_object(field).get()
    assert entry.actor == admin and entry.action == LogEntry.Action.CREATE
    page = web.get(reverse("custom_field_list")).content.decode()
    assert "Plan tier" in page and "plan_tier" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"key": "Bad Key!", "field_type": "text"}, "lowercase letters"),
        ({"key": "two__parts", "field_type": "text"}, "lowercase letters"),
        ({"key": "tier", "field_type": "choice", "choices": ""}, "needs at least one choice"),
        ({"key": "tier", "field_type": "choice", "choices": "a\nA"}, "listed twice"),
        ({"key": "region", "field_type": "text"}, "already have a field “region”"),
    ],
)
def test_bad_definitions_are_refused_with_the_reason(web, admin, data, message):
    define("region", "text")
    response = web.post(reverse("custom_field_list"), {"object_type": "contact", "label": "X", **data})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert CustomField.objects.count() == 1


def test_the_same_key_may_exist_once_for_accounts_and_once_for_contacts():
    define("region", "text", "contact")
    define("region", "text", "account")
    assert CustomField.objects.count() == 2


def test_a_type_change_that_stored_values_do_not_fit_is_refused_with_their_count(web, admin):
    field = define("seats_used", "text")
    for value in ("12", "7", "lots", "n/a"):
        ContactFactory(attributes={"seats_used": value})
    ContactFactory(attributes={"other": "x"})
    response = web.post(
        reverse("custom_field_edit", args=[field.pk]), {"label": "Seats used", "field_type": "number"}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "2 contacts have a “seats_used” value that does not fit a number field" in body
    field.refresh_from_db()
    assert field.field_type == "text"
    assert sorted(
        c.attributes.get("seats_used") for c in Contact.objects.all() if c.attributes.get("seats_used")
    ) == [
        "12",
        "7",
        "lots",
        "n/a",
    ]


def test_a_new_definition_over_imported_text_stores_it_typed():
    ann = ContactFactory(attributes={"renews_on": "2027-01-31", "vip": "yes", "plan": "Gold"})
    define("renews_on", "date")
    define("vip", "yes_no")
    define("plan", "choice", choices=TIERS)
    ann.refresh_from_db()
    assert ann.attributes == {"renews_on": "2027-01-31", "vip": True, "plan": "gold"}


def test_a_definition_over_values_that_do_not_fit_is_refused():
    ContactFactory(attributes={"score": "high"})
    with pytest.raises(ValidationError, match="1 contact has a “score” value"):
        define("score", "number")
    assert not CustomField.objects.exists()


def test_fields_are_reordered_and_deleted_leaving_their_values(web, admin):
    first, second, third = define("a", "text"), define("b", "text"), define("c", "text")
    assert [f.position for f in (first, second, third)] == [0, 1, 2]
    web.post(reverse("custom_field_move", args=[third.pk]), {"direction": "up"})
    assert [f.key for f in custom_fields.definitions("contact")] == ["a", "c", "b"]
    ann = ContactFactory(attributes={"b": "kept"})
    assert web.post(reverse("custom_field_delete", args=[second.pk])).status_code == 302
    assert [f.key for f in custom_fields.definitions("contact")] == ["a", "c"]
    ann.refresh_from_db()
    assert ann.attributes == {"b": "kept"}
    assert "kept" in web.get(reverse("contact_detail", args=[ann.pk])).content.decode()


def test_the_key_cannot_change():
    field = define("tier", "text")
    with pytest.raises(ValidationError, match="key cannot change"):
        services.custom_field_save(field=field, key="other")


# --- Records --------------------------------------------------------------------------------


def test_the_contact_page_shows_defined_fields_typed_and_other_attributes_apart(web):
    define("renews_on", "date", label="Renews on")
    define("vip", "yes_no", label="VIP")
    define("plan", "choice", label="Plan tier", choices=TIERS)
    define("addons", "multi_choice", label="Add-ons", choices=[["sms", "SMS pack"], ["api", "API access"]])
    ann = ContactFactory(
        attributes={
            "renews_on": "2027-01-31",
            "vip": False,
            "plan": "silver",
            "addons": ["sms", "api"],
            "x": 1,
        }
    )
    body = web.get(reverse("contact_detail", args=[ann.pk])).content.decode()
    for text in ("Renews on", "Jan 31, 2027", "VIP", ">No<", "Plan tier", "Silver", "SMS pack, API access"):
        assert text in body, text
    assert "Other attributes" in body


def test_the_account_page_shows_its_fields_typed(web):
    define("arr_band", "number", "account", label="ARR band")
    acme = AccountFactory(attributes={"arr_band": 125000})
    assert "125,000" in web.get(reverse("account_detail", args=[acme.pk])).content.decode()


def test_the_contact_form_has_typed_inputs_that_validate_and_keeps_other_attributes(web):
    define("renews_on", "date")
    define("seats", "number")
    define("vip", "yes_no")
    define("plan", "choice", choices=TIERS)
    ann = ContactFactory(first_name="Ann", attributes={"legacy": "keep me", "plan": "gold"})
    url = reverse("contact_edit", args=[ann.pk])
    form = web.get(url).content.decode()
    assert 'name="cf_renews_on"' in form and 'type="date"' in form
    assert '<option value="gold" selected>Gold</option>' in form
    base = {"first_name": "Ann", "phone_region": "US", "acquisition_channel": "other"}
    bad = web.post(url, {**base, "cf_seats": "many", "cf_plan": "gold"})
    assert bad.status_code == 200 and "Enter a number" in bad.content.decode()
    ann.refresh_from_db()
    assert ann.attributes == {"legacy": "keep me", "plan": "gold"}
    good = web.post(
        url, {**base, "cf_seats": "12", "cf_renews_on": "2027-02-01", "cf_vip": "true", "cf_plan": ""}
    )
    assert good.status_code == 302
    ann.refresh_from_db()
    assert ann.attributes == {"legacy": "keep me", "seats": 12, "renews_on": "2027-02-01", "vip": True}


def test_the_account_form_edits_account_fields(web):
    define("tier", "choice", "account", choices=TIERS)
    acme = AccountFactory(name="Acme")
    url = reverse("account_edit", args=[acme.pk])
    data = {
        "name": "Acme",
        "seats": 1,
        "lifecycle_stage": "active",
        "signed_up_at": "2026-01-01T00:00",
        "acquisition_channel": "other",
        "cf_tier": "silver",
    }
    assert web.post(url, data).status_code == 302
    acme.refresh_from_db()
    assert acme.attributes == {"tier": "silver"}


# --- API ------------------------------------------------------------------------------------


def test_the_api_checks_defined_fields_and_keeps_undefined_keys(api):
    define("plan_tier", "choice", choices=TIERS)
    define("renews_on", "date")
    bad = api.post(
        "/api/v1/contacts/", {"email": "a@example.com", "attributes": {"plan_tier": "x"}}, format="json"
    )
    assert bad.status_code == 400
    assert "attributes.plan_tier: 'x' is not one of gold, silver, bronze." in bad.content.decode()
    assert not Contact.objects.exists()
    good = api.post(
        "/api/v1/contacts/",
        {
            "email": "a@example.com",
            "attributes": {"plan_tier": "Gold", "renews_on": "2027-05-01", "free": [1]},
        },
        format="json",
    )
    assert good.status_code == 201
    assert good.json()["attributes"] == {"plan_tier": "gold", "renews_on": "2027-05-01", "free": [1]}
    contact_id = good.json()["id"]
    patch = api.patch(f"/api/v1/contacts/{contact_id}/", {"attributes": {"renews_on": "soon"}}, format="json")
    assert patch.status_code == 400 and "attributes.renews_on" in patch.content.decode()


def test_the_api_checks_account_fields(api):
    define("seats_band", "number", "account")
    bad = api.post("/api/v1/accounts/", {"name": "Acme", "attributes": {"seats_band": "many"}}, format="json")
    assert bad.status_code == 400 and "attributes.seats_band: 'many' is not a number." in bad.content.decode()
    good = api.post("/api/v1/accounts/", {"name": "Acme", "attributes": {"seats_band": "40"}}, format="json")
    assert good.status_code == 201 and good.json()["attributes"] == {"seats_band": 40}


def _filter_fixture():
    define("plan_tier", "choice", choices=TIERS)
    define("seats", "number")
    define("renews_on", "date")
    define("vip", "yes_no")
    define("notes", "text")
    define("addons", "multi_choice", choices=[["sms", "SMS"], ["api", "API"]])
    rows = {
        "ann": {
            "plan_tier": "gold",
            "seats": 5,
            "renews_on": "2027-01-10",
            "vip": True,
            "notes": "Loves SMS",
            "addons": ["sms"],
        },
        "bob": {
            "plan_tier": "silver",
            "seats": 50,
            "renews_on": "2027-06-01",
            "vip": False,
            "addons": ["sms", "api"],
        },
        "cy": {"plan_tier": "bronze", "seats": 12, "notes": "quiet"},
        "dee": {},
    }
    return {name: ContactFactory(first_name=name, attributes=attrs) for name, attrs in rows.items()}


FILTERS = [
    ({"attr.plan_tier": "gold"}, {"ann"}),
    ({"attr.plan_tier": ["gold", "bronze"]}, {"ann", "cy"}),
    ({"attr.vip": "true"}, {"ann"}),
    ({"attr.vip": "no"}, {"bob"}),
    ({"attr.seats.min": "10"}, {"bob", "cy"}),
    ({"attr.seats.min": "10", "attr.seats.max": "20"}, {"cy"}),
    ({"attr.renews_on.max": "2027-03-01"}, {"ann"}),
    ({"attr.renews_on.min": "2027-01-10"}, {"ann", "bob"}),
    ({"attr.notes": "sms"}, {"ann"}),
    ({"attr.addons": "api"}, {"bob"}),
    ({"attr.addons": ["api", "sms"]}, {"ann", "bob"}),
    ({"attr.plan_tier": "silver", "attr.seats.min": "40"}, {"bob"}),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS)
def test_the_api_filters_contacts_by_custom_fields(api, params, expected):
    _filter_fixture()
    response = api.get("/api/v1/contacts/", params)
    assert response.status_code == 200
    assert {row["first_name"] for row in response.json()["results"]} == expected


@pytest.mark.parametrize(("params", "expected"), FILTERS)
def test_the_contact_list_filters_by_custom_fields(web, params, expected):
    _filter_fixture()
    page = web.get(reverse("contact_list"), params)
    assert {c.first_name for c in page.context["page_obj"]} == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"attr.nope": "1"}, "there is no custom field 'nope'"),
        ({"attr.plan_tier": "tin"}, "'tin' is not one of gold, silver, bronze"),
        ({"attr.seats.min": "ten"}, "'ten' is not a number"),
        ({"attr.plan_tier.min": "gold"}, "only number and date fields take .min and .max"),
    ],
)
def test_bad_custom_field_filters_are_a_400_naming_the_parameter(api, params, message):
    _filter_fixture()
    response = api.get("/api/v1/contacts/", params)
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body and next(iter(params)) in body


def test_the_api_filters_accounts_by_custom_fields(api):
    define("region", "choice", "account", choices=[["emea", "EMEA"], ["amer", "Americas"]])
    AccountFactory(name="Euro", attributes={"region": "emea"})
    AccountFactory(name="Yank", attributes={"region": "amer"})
    response = api.get("/api/v1/accounts/", {"attr.region": "emea"})
    assert [row["name"] for row in response.json()["results"]] == ["Euro"]


def test_the_account_list_filters_by_custom_fields_and_shows_list_columns(web):
    define("region", "choice", "account", choices=[["emea", "EMEA"], ["amer", "Americas"]], show_in_list=True)
    AccountFactory(name="Euro", attributes={"region": "emea"})
    AccountFactory(name="Yank", attributes={"region": "amer"})
    page = web.get(reverse("account_list"), {"attr.region": "amer"})
    assert [a.name for a in page.context["page_obj"]] == ["Yank"]
    assert "<td>Americas</td>" in page.content.decode()


def test_a_saved_view_keeps_custom_field_filters(web, user):
    _filter_fixture()
    query = "attr.plan_tier=silver&attr.seats.min=40&sort=-name&page=3"
    web.post(reverse("saved_view_save", args=["contacts"]), {"name": "Big silver", "query": query})
    view = SavedView.objects.get(name="Big silver")
    assert view.query == "attr.plan_tier=silver&attr.seats.min=40&sort=-name"
    page = web.get(reverse("contact_list") + "?" + view.query)
    assert [c.first_name for c in page.context["page_obj"]] == ["bob"]


def _list_queries(web, count: int) -> int:
    for _ in range(count):
        ContactFactory(attributes={"plan_tier": "gold", "seats": 20})
    params = {"attr.plan_tier": ["gold", "silver"], "attr.seats.min": "10", "columns": ["email"]}
    with CaptureQueriesContext(connection) as queries:
        page = web.get(reverse("contact_list"), params)
    assert page.context["page_obj"].paginator.count >= count
    return len(queries)


def test_filtered_lists_are_a_constant_number_of_queries(web, api, django_assert_max_num_queries):
    define("plan_tier", "choice", choices=TIERS, show_in_list=True)
    define("seats", "number", show_in_list=True)
    assert _list_queries(web, 2) == _list_queries(web, 30)
    api.get("/api/v1/pipeline-stages/")  # token use is recorded once a minute; keep that out
    with django_assert_max_num_queries(5):  # token, definitions, count, page, tags
        api.get("/api/v1/contacts/", {"attr.plan_tier": "gold", "page_size": 100})


# --- Imports --------------------------------------------------------------------------------


def test_imports_read_defined_fields_typed_and_skip_rows_that_do_not_fit():
    define("plan_tier", "choice", label="Plan tier", choices=TIERS)
    define("renews_on", "date")
    ann = ContactFactory(email="ann@example.com", attributes={"plan_tier": "silver"})
    job = run(
        "contacts",
        "Email,Plan Tier,renews_on,Shoe size\n"
        "ann@example.com,Gold,2027-01-31,38\n"
        "bob@example.com,platinum,2027-01-31,40\n"
        "cy@example.com,bronze,31/01/2027,41\n"
        "dee@example.com,,,\n",
        mapping={"Plan Tier": ATTRIBUTE, "renews_on": ATTRIBUTE, "Shoe size": ATTRIBUTE},
    )
    ann.refresh_from_db()
    assert ann.attributes == {"plan_tier": "gold", "renews_on": "2027-01-31", "Shoe size": "38"}
    assert set(Contact.objects.values_list("email", flat=True)) == {"ann@example.com", "dee@example.com"}
    rows = outcomes(job)
    assert (
        rows[3].action == "skip"
        and "Plan tier: 'platinum' is not one of gold, silver, bronze." in rows[3].reason
    )
    assert (
        rows[4].action == "skip" and "Renews on: '31/01/2027' is not a date (YYYY-MM-DD)." in rows[4].reason
    )
    assert Contact.objects.get(email="dee@example.com").attributes == {}


def test_undefined_attributes_are_unchanged_by_all_this(api):
    response = api.post(
        "/api/v1/contacts/", {"email": "z@example.com", "attributes": {"Any": "thing"}}, format="json"
    )
    assert response.status_code == 201 and response.json()["attributes"] == {"Any": "thing"}


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("params", "table", "index"),
    [
        ({"attr.plan_tier": ["gold", "silver"]}, Contact, "crm_contact_attributes_gin"),
        ({"attr.vip": "yes"}, Contact, "crm_contact_attributes_gin"),
        ({"attr.addons": "api"}, Contact, "crm_contact_attributes_gin"),
        ({"attr.region": "emea"}, Account, "crm_account_attributes_gin"),
    ],
)
def test_postgres_answers_equality_filters_from_the_gin_index(params, table, index):
    """Migration 0017's GIN index (jsonb_path_ops) serves the containment the filters write: with
    scans of the table priced out the plan reads it (at 100k rows the planner picks it alone for
    a selective value)."""
    _filter_fixture()
    define("region", "choice", "account", choices=[["emea", "EMEA"], ["amer", "Americas"]])
    object_type = "contact" if table is Contact else "account"
    fields = custom_fields.by_key(object_type)
    conditions, problems = custom_fields.conditions_from_params(_query(params), fields)
    assert not problems
    queryset = table.objects.filter(custom_fields.conditions_q(conditions, fields)).only("id")
    sql, sql_params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, sql_params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan


def _query(params: dict) -> QueryDict:
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    return query


def test_the_api_lists_the_definitions(api):
    define("plan_tier", "choice", choices=TIERS)
    define("region", "text", "account")
    rows = api.get("/api/v1/custom-fields/", {"object_type": "contact"}).json()["results"]
    assert [(r["key"], r["field_type"], r["choices"]) for r in rows] == [("plan_tier", "choice", TIERS)]
    assert api.post("/api/v1/custom-fields/", {}, format="json").status_code == 405
