"""The dashboard's navigation, in one place: a page for another resource (schedules, webhooks,
triggers) is one more entry here plus its view."""
from __future__ import annotations

from typing import NamedTuple


class NavItem(NamedTuple):
    label: str
    endpoint: str  # Flask endpoint of the page
    section: str  # what the current page's `nav_section` must be for this entry to be marked current


NAV: tuple[NavItem, ...] = (
    NavItem("Jobs", "dashboard.jobs", "jobs"),
    NavItem("New crawl", "dashboard.new_job", "new_job"),
    NavItem("API docs", "docs.index", "docs"),
)
