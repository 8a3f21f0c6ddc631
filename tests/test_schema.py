"""The OpenAPI schema generates cleanly and documents the integration contract."""

import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

# The CRM table of /work/shared/API.md: every path with its methods.
CRM_CONTRACT = {
    "accounts": {"get", "post", "patch", "delete"},
    "contacts": {"get", "post", "patch", "delete"},
    "deals": {"get", "post", "patch"},
    "renewals": {"get", "post", "patch"},
    "orders": {"get", "post"},
    "events": {"get", "post"},
    "tasks": {"get", "post", "patch"},
    "activities": {"get", "post"},
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    path: Path = tmp_path_factory.mktemp("schema") / "schema.yml"
    with django_db_blocker.unblock():
        # Raises (SchemaGenerationError / SystemExit) on any warning or validation error.
        call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_schema_generates_without_warnings_and_validates(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Lifecycle CRM API"


@pytest.mark.parametrize(("resource", "methods"), CRM_CONTRACT.items())
def test_schema_has_every_contract_path_with_its_methods(schema, resource, methods):
    paths = schema["paths"]
    listed = paths[f"/api/v1/{resource}/"]
    detail = paths[f"/api/v1/{resource}/{{id}}/"]
    offered = {method for method in (*listed, *detail) if method in {"get", "post", "put", "patch", "delete"}}
    assert offered == methods


def test_schema_documents_contract_fields(schema):
    components = schema["components"]["schemas"]
    assert {"id", "phone", "timezone", "sms_consent", "attributes"} <= set(
        components["Contact"]["properties"]
    )
    assert "phone_region" not in components["Contact"]["properties"]  # write-only
    assert "phone_region" in components["ContactRequest"]["properties"]
    assert {"stage", "amount", "expected_close", "closed_at"} <= set(components["Deal"]["properties"])
    assert {"gross_margin", "external_id"} <= set(components["Order"]["properties"])
    assert "pipeline-stages" in " ".join(schema["paths"])


def test_schema_documents_batch_posts(schema):
    post = schema["paths"]["/api/v1/orders/"]["post"]
    request = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert request.endswith("/OrderUpsertRequest")
    variants = schema["components"]["schemas"]["OrderUpsertRequest"]["oneOf"]
    assert {variant.get("type", "object") for variant in variants} == {"object", "array"}
    result = schema["components"]["schemas"]["OrderBatchResult"]["properties"]
    assert set(result) == {"created", "updated", "results"}


def test_schema_needs_auth(anon_api, api):
    assert anon_api.get("/api/v1/schema/").status_code == 401
    response = api.get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"/api/v1/accounts/" in response.content


@pytest.mark.django_db
def test_docs_redirect_anonymous_users_to_login(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_docs_render_offline_for_logged_in_users(web):
    response = web.get("/api/v1/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert not re.search(r"cdn|jsdelivr|unpkg", page, re.IGNORECASE)


# Lists whose records never change once written, so there is nothing to ask "since" about,
# and that are small enough not to need a cursor. Each with its reason; a new list either
# takes `updated_after` (core.filters) and returns `updated_at`, pages by cursor
# (core.pagination.FeedPagination) as an append-only feed, or is added here with why.
LISTS_WITHOUT_UPDATED_AFTER: dict[str, str] = {
    "/api/v1/contacts/duplicates/": "likely duplicate pairs computed per request, not stored records",
}


def _list_operations(schema: dict):
    """(path, operation, item schema) of every GET whose answer is a page of records."""
    components = schema["components"]["schemas"]

    def resolve(node):
        while "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[1]]
        return node

    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if not get:
            continue
        body = get["responses"].get("200", {}).get("content", {}).get("application/json", {})
        page = resolve(body.get("schema", {}))
        results = page.get("properties", {}).get("results")
        if results and "next" in page["properties"]:
            yield path, get, resolve(results["items"])


def test_the_walk_finds_the_lists(schema):
    paths = {path for path, _, _ in _list_operations(schema)}
    assert {"/api/v1/contacts/", "/api/v1/sms/messages/", "/api/v1/users/", "/api/v1/webhooks/"} <= paths
    assert "/api/v1/webhooks/{id}/deliveries/" in paths and "/api/v1/contacts/{id}/" not in paths


def test_every_list_syncs_by_updated_after_or_is_a_cursor_feed(schema):
    """API.md: every list of records that change accepts `updated_after` and returns
    `updated_at`; append-only feeds page by cursor. A future list cannot miss both."""
    missing = []
    for path, operation, item in _list_operations(schema):
        parameters = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        syncs = "updated_after" in parameters and "updated_at" in item.get("properties", {})
        feed = "cursor" in parameters
        if not (syncs or feed or path in LISTS_WITHOUT_UPDATED_AFTER):
            missing.append(path)
    assert missing == []
    assert set(LISTS_WITHOUT_UPDATED_AFTER) <= {path for path, _, _ in _list_operations(schema)}


def test_schema_documents_custom_field_filters_and_tags(schema):
    """Issue 20: the lists of accounts and contacts take attr.<key> filters on custom fields;
    contacts have tags (read, written, filtered by)."""
    for resource in ("accounts", "contacts"):
        parameters = {p["name"]: p for p in schema["paths"][f"/api/v1/{resource}/"]["get"]["parameters"]}
        assert "attr.{key}" in parameters
        assert "attr.plan_tier=gold" in parameters["attr.{key}"]["description"]
    contact_list = {p["name"] for p in schema["paths"]["/api/v1/contacts/"]["get"]["parameters"]}
    assert "tag" in contact_list
    assert schema["components"]["schemas"]["Contact"]["properties"]["tags"]["type"] == "array"
    assert (
        "typed values"
        in schema["components"]["schemas"]["Contact"]["properties"]["attributes"]["description"]
    )
