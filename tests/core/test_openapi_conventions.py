"""Walks the generated OpenAPI schema: every operation lists the error answers it can give,
each with the one Error shape, and POSTs document Idempotency-Key."""

from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

METHODS = ("get", "post", "put", "patch", "delete")
ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    path: Path = tmp_path_factory.mktemp("schema") / "schema.yml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(path))
    return yaml.safe_load(path.read_text())


def operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_the_schema_has_api_operations(schema):
    assert len(list(operations(schema))) > 50


def test_every_operation_lists_its_error_answers_with_the_error_shape(schema):
    missing = []
    for path, method, operation in operations(schema):
        expected = {"401", "403", "429"}
        if "{" in path:
            expected.add("404")
        if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
            expected.add("400")
        if method == "post":
            expected |= {"409", "422"}
        responses = operation["responses"]
        for status in sorted(expected):
            content = responses.get(status, {}).get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref") != ERROR_REF:
                missing.append(f"{method.upper()} {path} {status}")
    assert not missing, f"{len(missing)} undocumented error answers, e.g. {missing[:10]}"


def test_every_4xx_in_the_schema_uses_the_one_error_shape(schema):
    other = [
        f"{method.upper()} {path} {status}"
        for path, method, operation in operations(schema)
        for status, response in operation["responses"].items()
        if status.startswith("4") and response["content"]["application/json"]["schema"] != {"$ref": ERROR_REF}
    ]
    assert not other
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"detail", "code"}


def test_posts_document_idempotency_and_location(schema):
    for path, method, operation in operations(schema):
        if method != "post":
            continue
        assert "Idempotency-Key" in {p["name"] for p in operation["parameters"] if p["in"] == "header"}, path
        assert "Retry-After" in operation["responses"]["429"]["headers"]
    created = schema["paths"]["/api/v1/contacts/"]["post"]["responses"]["201"]
    assert {"Location", "Idempotent-Replayed"} <= set(created["headers"])
    assert "RateLimit-Policy" in schema["paths"]["/api/v1/contacts/"]["get"]["responses"]["429"]["headers"]


def test_documented_errors_match_real_answers(api, anon_api, db):
    """Spot checks that the documented shapes are what the API answers."""
    unknown = api.get("/api/v1/contacts/999999/")
    assert unknown.status_code == 404 and "detail" in unknown.json()
    assert "detail" in anon_api.get("/api/v1/contacts/").json()
    bad = api.post("/api/v1/contacts/", {"email": "nope"}, format="json")
    assert bad.status_code == 400 and bad.json()["email"]
