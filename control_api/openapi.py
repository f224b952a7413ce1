"""GET /v1/openapi.json, built from the pydantic schemas that validate requests and shape responses."""
from __future__ import annotations

from functools import cache

from flask import Blueprint, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from control_api import schemas

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"
ERROR_STATUSES = {
    "400": "Bad field or query parameter",
    "401": "Missing, malformed or unknown token",
    "404": "No such job in your organisation",
    "405": "Method not allowed",
    "409": "Job already finished",
    "413": "Body too large",
    "415": "Body is not JSON",
    "422": "Target not allowed",
    "429": "Rate limited",
    "503": "Scheduler or database unavailable",
}


def _json(model: type[BaseModel]) -> dict:
    return {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}


def _responses(ok_status: str, ok_model: type[BaseModel] | None, *errors: str) -> dict:
    responses = {ok_status: {"description": "Success"}}
    if ok_model is not None:
        responses[ok_status]["content"] = _json(ok_model)
    for status in errors:
        responses[status] = {"description": ERROR_STATUSES[status], "content": _json(schemas.ErrorResponse)}
    return responses


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema(ref_template=REF)
    return [
        {"name": name, "in": "query", "required": False, "schema": {k: v for k, v in prop.items() if k != "title"}}
        for name, prop in schema["properties"].items()
    ]


def _create_body_schema(components: dict) -> dict:
    """The create body accepts each option flat at the top level too (nested wins)."""
    body = dict(components["CreateJobRequest"])
    options = components["JobOptions"]["properties"]
    body["properties"] = {**body["properties"], **options}
    return body


@cache
def openapi_document() -> dict:
    models = [
        schemas.CreateJobRequest, schemas.CreatedJob, schemas.JobOut, schemas.JobList,
        schemas.CancelledJob, schemas.ErrorResponse, schemas.Health, schemas.TaskList, schemas.IssuesReport,
    ]
    _, defs = models_json_schema([(m, "validation" if m is schemas.CreateJobRequest else "serialization") for m in models], ref_template=REF)
    components = defs["$defs"]
    components["CreateJobRequest"] = _create_body_schema(components)
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    cancel = {
        "summary": "Cancel a job (idempotent)",
        "parameters": [job_id],
        "responses": _responses("200", schemas.CancelledJob, "401", "404", "409", "429"),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Crawl service API", "version": "1.0.0"},
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/jobs": {
                "post": {
                    "summary": "Create a crawl job",
                    "requestBody": {"required": True, "content": _json(schemas.CreateJobRequest)},
                    "responses": _responses("201", schemas.CreatedJob, "400", "401", "413", "415", "422", "429", "503"),
                },
                "get": {
                    "summary": "List jobs, newest first",
                    "parameters": _query_parameters(schemas.ListJobsQuery),
                    "responses": _responses("200", schemas.JobList, "400", "401", "429"),
                },
            },
            "/v1/jobs/{job_id}": {
                "get": {
                    "summary": "Get a job with progress and stats",
                    "parameters": [job_id],
                    "responses": _responses("200", schemas.JobOut, "401", "404", "429"),
                },
                "delete": cancel,
            },
            "/v1/jobs/{job_id}/cancel": {"post": cancel},
            "/v1/jobs/{job_id}/tasks": {
                "get": {
                    "summary": "Per-URL results, filtered, sorted and paginated",
                    "parameters": [job_id, *_query_parameters(schemas.ListTasksQuery)],
                    "responses": _responses("200", schemas.TaskList, "400", "401", "404", "429"),
                }
            },
            "/v1/jobs/{job_id}/issues": {
                "get": {
                    "summary": "Broken links with their referrers, slow pages, redirect chains, server errors",
                    "parameters": [job_id],
                    "responses": _responses("200", schemas.IssuesReport, "401", "404", "429"),
                }
            },
            "/v1/jobs/{job_id}/export": {
                "get": {
                    "summary": "Every task, streamed as CSV or JSON lines",
                    "parameters": [job_id, *_query_parameters(schemas.ExportQuery)],
                    "responses": {
                        "200": {
                            "description": "The job's tasks",
                            "content": {"text/csv": {"schema": {"type": "string"}},
                                        "application/x-ndjson": {"schema": {"type": "string"}}},
                        },
                        **{k: v for k, v in _responses("200", None, "400", "401", "404", "429").items() if k != "200"},
                    },
                }
            },
            "/v1/jobs/{job_id}/log": {
                "get": {
                    "summary": "The crawler's log for this job, streamed as text",
                    "parameters": [job_id],
                    "responses": {
                        "200": {"description": "The crawl log", "content": {"text/plain": {"schema": {"type": "string"}}}},
                        **{k: v for k, v in _responses("200", None, "401", "404", "429", "503").items() if k != "200"},
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Database and scrapyd reachability",
                    "security": [],
                    "responses": {
                        "200": {"description": "All reachable", "content": _json(schemas.Health)},
                        "503": {"description": "Something unreachable", "content": _json(schemas.Health)},
                    },
                }
            },
        },
    }


@bp.get("/v1/openapi.json")
def openapi_json():
    return jsonify(openapi_document())
