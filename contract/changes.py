"""What changed between two crawls of one domain: the kinds of change and the comparison's shape.

The crawler computes a comparison once, when a job completes, against the organisation's previous
completed crawl of the domain and stores it on the job (db/changes.py); the API serves comparisons
of any two crawls (`GET /v1/jobs/{id}/changes`) and the `job.completed` webhook carries it. Both
sides build and read it with these models. docs/api.md defines each kind precisely.
"""
from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

# A page is slower (faster) when its response time grew (shrank) by more than half of what it was
# AND by more than this many ms: a 5 ms page taking 9 ms is noise, not a regression.
SLOWER_MIN_MS = 200


class ChangeKind(StrEnum):
    """A kind of change, in the order the summary and the dashboard list them."""

    NEW_BROKEN_LINKS = "new_broken_links"
    FIXED_BROKEN_LINKS = "fixed_broken_links"
    NEW_PAGES = "new_pages"
    GONE_PAGES = "gone_pages"
    STATUS_CHANGES = "status_changes"
    SLOWER_PAGES = "slower_pages"
    FASTER_PAGES = "faster_pages"
    NEW_SLOW_PAGES = "new_slow_pages"

    @classmethod
    def regressions(cls) -> tuple[ChangeKind, ...]:
        """The kinds that make a completed job `job.regressed`."""
        return (cls.NEW_BROKEN_LINKS, cls.NEW_SLOW_PAGES)


class ChangeSummary(BaseModel):
    new_broken_links: int = Field(description="Broken in this crawl, not broken (or not crawled) before.")
    fixed_broken_links: int = Field(description="Broken before; in this crawl not broken, or no longer linked at all.")
    new_pages: int = Field(description="URLs crawled now and not before (broken ones count as new broken links).")
    gone_pages: int = Field(description="URLs crawled before and not now (broken ones count as fixed broken links).")
    status_changes: int = Field(description="URLs in both whose status, HTTP status or final URL (redirect target) changed, "
                                "broken in both or in neither.")  # fmt: skip
    slower_pages: int = Field(description="Pages whose response time grew by more than 50 % and more than 200 ms.")
    faster_pages: int = Field(description="Pages whose response time shrank by more than 50 % and more than 200 ms.")
    new_slow_pages: int = Field(description="Pages over the job's slow threshold now that were not before (or not crawled).")

    @property
    def regressed(self) -> bool:
        return any(getattr(self, kind) for kind in ChangeKind.regressions())


class BeforeAfter(BaseModel):
    before: float | int | None
    after: float | int | None


class Comparison(BaseModel):
    """A job compared with an earlier crawl of its domain: counts per kind and the two jobs' figures."""

    since_job_id: str = Field(description="The earlier job this one is compared with.")
    summary: ChangeSummary
    avg_response_time: BeforeAfter = Field(description="Mean response time in ms over fetched pages, as in `stats`.")
    cache_hit_ratio: BeforeAfter = Field(description="Cache hit ratio (0-1, null when unknown), as in `stats`.")
