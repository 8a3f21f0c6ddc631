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
