"""The schema's part of the API conventions, added to every operation in one place (a
drf-spectacular postprocessing hook) instead of per view: the error answers each operation can
give, all with the one ``Error`` shape of ``core.errors``; the ``Idempotency-Key`` header and the
answers it adds on POST; ``Location`` on 201; the rate limit headers on 429."""

ERROR = "Error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR}"}
ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "Every error answer has this shape. An error about the request as a whole carries `detail` "
        "(for people) and usually `code` (for programs). A validation error (400) names each bad "
        "field instead, `{field: [message, ...]}`; for a batch, keyed by the item's index."
    ),
    "properties": {
        "detail": {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "description": "What went wrong, for people (a list when several things did).",
        },
        "code": {"type": "string", "description": "What went wrong, for programs."},
    },
    "additionalProperties": {},
}
WHY = {
    400: "Bad input: each bad field named with why.",
    401: "Not authenticated: send `Authorization: Token <key>` (or sign in).",
    403: "Authenticated but not allowed (your role, or a missing CSRF token in the browser).",
    404: "No such record (or not one you may see).",
    409: "Conflicts with the current state, or a request with this `Idempotency-Key` is still running "
    "(retry after `Retry-After`).",
    413: "The body is too large to be checked against an `Idempotency-Key`.",
    415: "Unsupported media type: send JSON.",
    422: "This `Idempotency-Key` was used with another body or path, or a rule refused the request.",
    429: "Too many requests for this token: wait `Retry-After` seconds (`RateLimit`, `RateLimit-Policy`).",
}
IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": (
        "Makes a retry safe: the same key from the same caller (token or user) with the same body "
        "answers with the first response (header `Idempotent-Replayed: true`) instead of running "
        "again; the same key with another body answers 422. Kept at least 24 hours."
    ),
}
STRING = {"schema": {"type": "string"}}
REPLAYED_HEADER = {"description": "`true` when this is the stored answer to an earlier request.", **STRING}
LOCATION_HEADER = {"description": "The URL of the created record.", **STRING}
RATE_LIMIT_HEADERS = {
    "Retry-After": {"description": "Seconds until a request may succeed.", "schema": {"type": "integer"}},
    "RateLimit": {"description": 'IETF draft: `"<policy>";r=<left>;t=<seconds>`.', **STRING},
    "RateLimit-Policy": {"description": 'IETF draft: `"<policy>";q=<requests>;w=<seconds>`.', **STRING},
}
METHODS = ("get", "post", "put", "patch", "delete")


def error_statuses(path: str, method: str, operation: dict) -> set[int]:
    """The error answers an operation can give, by what it takes and how it is guarded."""
    statuses = {429}
    if {} not in operation.get("security", []):  # an empty requirement means anyone may call it
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    takes_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    if "requestBody" in operation or takes_query:
        statuses.add(400)
    if "requestBody" in operation:
        statuses.add(415)
    if method == "post":
        statuses |= {409, 413, 422}
    return statuses


def document_conventions(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR] = ERROR_SCHEMA
    for path, item in result.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in error_statuses(path, method, operation):
                responses.setdefault(str(status), {"description": WHY[status]})
            for code, response in responses.items():
                if code.startswith("4"):
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
                    response.setdefault("description", WHY.get(int(code), "Error"))
            responses["429"]["headers"] = RATE_LIMIT_HEADERS
            if method == "post":
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in parameters):
                    parameters.append(IDEMPOTENCY_PARAMETER)
                for code, response in responses.items():
                    if code.startswith("2"):
                        headers = response.setdefault("headers", {})
                        headers["Idempotent-Replayed"] = REPLAYED_HEADER
                        if code == "201" and "{" not in path:
                            headers["Location"] = LOCATION_HEADER
    return result
