"""GET /v1/openapi.json: built from the registered routes and the models that validate them.
SPEC: "Beyond the core [ours]" (`GET /v1/openapi.json` describing every endpoint, generated from the
code that validates requests); "Errors [core]" (one error shape)."""
from __future__ import annotations

import re

import pytest

from contract.options import OPTION_FIELDS

ERROR_REF = "#/components/schemas/ErrorResponse"


@pytest.fixture
def document(client) -> dict:
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


BROWSER_PAGES = ("/app", "/docs")  # HTML for people (the dashboard, Swagger UI), not the API


def _routes(app) -> dict[str, set[str]]:
    """{OpenAPI path: methods} of every route the app serves, except the document itself and the
    browser pages."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule == "/v1/openapi.json" or rule.rule.startswith(BROWSER_PAGES):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    return routes


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_document_is_openapi_3_with_a_bearer_scheme(document):
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_every_route_the_app_serves_is_documented_with_its_methods(app, document):
    documented = {path: set(item) for path, item in document["paths"].items()}
    assert documented == _routes(app)


def test_every_v1_operation_requires_the_bearer_token_and_healthz_none(document):
    for path, method, operation in _operations(document):
        expected = [{"bearer": []}] if path.startswith("/v1/") else None
        assert operation.get("security") == expected, (path, method)


def test_every_path_variable_is_a_required_path_parameter(document):
    for path, method, operation in _operations(document):
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path" and p["required"]}
        assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)


def test_every_error_response_is_the_one_error_shape(document):
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400 and path != "/healthz":
                assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (path, method, status)
    error = document["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]


def test_every_v1_operation_documents_auth_rate_limit_and_database_errors(document):
    for path, method, operation in _operations(document):
        if path.startswith("/v1/"):
            assert {"401", "429", "503"} <= set(operation["responses"]), (path, method)


def test_query_parameters_are_those_of_the_query_models(document):
    parameters = document["paths"]["/v1/jobs"]["get"]["parameters"]
    assert [p["name"] for p in parameters] == ["limit", "offset", "page", "status", "range", "tzOffset", "include", "schedule_id"]
    assert all(p["in"] == "query" and not p["required"] for p in parameters)
    tasks = {p["name"] for p in document["paths"]["/v1/jobs/{job_id}/tasks"]["get"]["parameters"]}
    assert {"job_id", "status", "cache_status", "issue", "kind", "status_class", "q", "path_prefix", "path", "sort", "limit",
            "offset", "page"} == tasks


def test_create_body_documents_nested_and_flat_options(document):
    body = document["paths"]["/v1/jobs"]["post"]["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["required"] == ["domain"] and schema["additionalProperties"] is False
    for name in OPTION_FIELDS:  # flat form: same type and limits as options.<name>, and no default
        flat = schema["properties"][name]
        nested = document["components"]["schemas"]["JobOptions"]["properties"][name]
        assert (flat.get("type"), flat.get("anyOf")) == (nested.get("type"), nested.get("anyOf")) and "default" not in flat
        limits = ("minimum", "maximum", "maxItems", "maxProperties", "items")
        assert {k: flat.get(k) for k in limits} == {k: nested.get(k) for k in limits}


def test_streamed_responses_document_their_media_types(document):
    export = document["paths"]["/v1/jobs/{job_id}/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"text/csv", "application/x-ndjson"}
    log = document["paths"]["/v1/jobs/{job_id}/log"]["get"]["responses"]["200"]["content"]
    assert set(log) == {"text/plain"}


def test_the_document_has_no_html_pages_of_its_own(client):
    # flask-openapi3's UI index would be an unauthenticated HTML page under /v1/.
    assert client.get("/v1/").status_code == 404
    assert client.get("/v1/").mimetype == "application/json"


@pytest.mark.parametrize("model", ["CreatedJob", "JobOut", "JobListItem"])
def test_every_job_object_has_organisation_id_and_domain_as_required_strings(document, model):
    # SPEC "Create a job [core]": one job shape wherever it appears, `domain` the host string,
    # `organisation_id` a string.
    schema = document["components"]["schemas"][model]
    assert schema["properties"]["organisation_id"]["type"] == "string"
    assert schema["properties"]["domain"]["type"] == "string"
    assert {"organisation_id", "domain", "domain_id"} <= set(schema["required"])


def test_every_v1_operation_documents_400_for_an_unknown_query_parameter(document):
    for path, method, operation in _operations(document):
        if path.startswith("/v1/"):
            assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (path, method)


def test_create_documents_allow_concurrent_and_its_409(document):
    schema = document["components"]["schemas"]["CreateJobRequest"]["properties"]["allow_concurrent"]
    assert schema["type"] == "boolean" and schema["default"] is False
    assert "409" in document["paths"]["/v1/jobs"]["post"]["responses"]
