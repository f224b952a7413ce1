"""GET /v1/jobs/{id}/browser: the browser measurements of a job's sampled pages (SPEC "Performance
data"). Its section says where they stand: `pending`/`measuring` after the job completed, then
`measured` with the pages, or `unavailable` with the reason (no browser on this machine), `off`
(browser_pages 0), or `not_measured` (the job did not complete)."""
from __future__ import annotations

from datetime import datetime

from flask import g
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from contract.vocabulary import BrowserStatus
from control_api.jobs import service as jobs_service
from control_api.database import session_scope
from control_api.openapi import errors, resource_blueprint
from control_api.responses import json_response
from control_api.jobs.schemas import JobPath
from db.models import BrowserPage, Job

bp = resource_blueprint("browser", __name__, "/v1", "jobs", 400, 404)


class BrowserPageOut(BaseModel):
    url: str
    reason: str = Field(description="Why it was sampled: `slowest` (by the crawl's response time) or `important` "
                        "(start page, navigation, shallowest).")  # fmt: skip
    response_time_ms: int | None = Field(description="The crawl's response time of the page, for comparison.")
    lcp_ms: int | None = Field(description="Largest Contentful Paint, ms after navigation start.")
    fcp_ms: int | None = Field(description="First Contentful Paint, ms after navigation start.")
    cls: float | None = Field(description="Cumulative Layout Shift: the largest session window of unexpected shifts.")
    tbt_ms: int | None = Field(description="Total Blocking Time: long tasks' time past 50 ms, after FCP.")
    page_weight_bytes: int | None = Field(description="Bytes transferred for the page and everything it loaded.")
    request_count: int | None = Field(description="Requests the page made, itself included.")
    console_errors: list[str] = Field(description="The browser console's errors (at most 20).")
    error: str | None = Field(description="Why the page could not be measured (a load timeout, say).")
    seconds: float = Field(description="Wall time the page took in the browser, measurement included.")
    measured_at: datetime


class BrowserSection(BaseModel):
    job_id: str
    status: BrowserStatus
    note: str | None = Field(description="Why unavailable, or what was measured.")
    browser_pages: int = Field(description="The job's browser_pages option: how many pages the sample asks for.")
    pages: list[BrowserPageOut]


def section(session: Session, job: Job) -> BrowserSection:
    status = job.browser_status or BrowserStatus.NOT_MEASURED
    note = job.browser_note
    if status == BrowserStatus.NOT_MEASURED and note is None:
        note = ("Measured after the job completes" if not job.is_terminal
                else "The job did not complete: its pages are not measured")  # fmt: skip
    rows = session.scalars(select(BrowserPage).where(BrowserPage.job_id == job.id).order_by(BrowserPage.id)).all()
    pages = [BrowserPageOut.model_validate(row, from_attributes=True) for row in rows]
    return BrowserSection(job_id=job.id, status=status, note=note, browser_pages=(job.options or {}).get("browser_pages", 6),
                          pages=pages)  # fmt: skip


@bp.get("/jobs/<job_id>/browser", responses={200: BrowserSection})
def job_browser(path: JobPath):
    """Browser measurements (LCP, FCP, CLS, TBT, weight, requests, console errors) of the job's sampled pages"""
    with session_scope() as session:
        job = jobs_service.get_job(session, g.organisation_id, path.job_id)
        return json_response(section(session, job))
