"""For CI: an ad-hoc crawl as a link check (what linkinator, lychee and muffet are mostly used for).

- `JUnitReportExporter` (`-O links.xml:junit`): one test case per URL the crawl checked (pages,
  resources, external links; sitemap documents are not links), a <failure> for every broken link
  with the pages linking to it, <skipped> for a URL not requested (robots.txt, excluded, ...).
  CI servers (GitLab, Jenkins, GitHub test reporters) show it as a test report.
- `MarkdownReportExporter` (`-O links.md:markdown`): a summary and a table of broken links with
  their referrers, for a job summary (`cat links.md >> $GITHUB_STEP_SUMMARY`) or a PR comment.
- `-a fail_on=broken`: the crawl exits with BROKEN_EXIT_CODE when it found a broken link (crawler/
  commands/crawl.py reads `broken_links`, counted here as records go out).

A broken link is a record with `is_broken` (a link whose target failed, internal or external); a
site known to refuse crawlers (`refused_to_robots`) is not broken.
"""
from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from scrapy import signals
from scrapy.exporters import BaseItemExporter

from contract.vocabulary import TaskKind, TaskStatus

# An ad-hoc crawl's exit statuses, each with one meaning (crawler/commands/crawl.py; README "Every
# broken link, in CI"): 0 the crawl ran and found nothing to fail on; 1 the site could not be reached
# (the start page was never fetched: nothing was checked); 2 a usage error (a bad `-a`, Scrapy's and
# argparse's convention, so taken); 3 the crawl ran and found broken links with `-a fail_on=broken`.
# Lychee's 2 (link failures) is the usage error here and linkinator's 1 (any failure) the unreachable
# site: so a CI step can tell "fix the command" (2) and "the site is down" (1) from "fix the links" (3).
BROKEN_EXIT_CODE = 3
FAIL_ON = ("broken",)


def _what_failed(item: dict[str, Any]) -> str:
    return f"HTTP {item['http_status']}" if item.get("http_status") and item["http_status"] >= 400 else item.get("error") or "failed"


class _Report(BaseItemExporter):
    def __init__(self, file, **kwargs: Any):
        super().__init__(dont_fail=True, **kwargs)
        self.file = file
        self.checked = 0
        self.broken: list[dict[str, Any]] = []

    def counted(self, item: dict[str, Any]) -> bool:
        if item.get("kind") == TaskKind.SITEMAP:
            return False
        self.checked += 1
        if item.get("is_broken"):
            self.broken.append({name: item.get(name) for name in ("url", "kind", "http_status", "error", "referrers", "referrer")})
        return True


class JUnitReportExporter(_Report):
    def __init__(self, file, **kwargs: Any):
        super().__init__(file, **kwargs)
        self.cases: list[str] = []
        self.skipped = 0

    def export_item(self, item: dict[str, Any]) -> dict[str, Any]:
        if not self.counted(item):
            return item
        name = quoteattr(item["url"])
        classname = quoteattr(f"links.{item['kind']}")
        if item.get("is_broken"):
            referrers = item.get("referrers") or ([item["referrer"]] if item.get("referrer") else [])
            detail = "Linked from:\n" + "\n".join(referrers) if referrers else ""
            body = f"<failure message={quoteattr(_what_failed(item))} type=\"broken_link\">{escape(detail)}</failure>"
        elif item.get("status") == TaskStatus.SKIPPED:
            self.skipped += 1
            body = f"<skipped message={quoteattr(item.get('error') or item.get('error_type') or 'not requested')}/>"
        else:
            body = ""
        time = (item.get("response_time_ms") or 0) / 1000
        self.cases.append(f'    <testcase classname={classname} name={name} time="{time:.3f}">{body}</testcase>\n')
        return item

    def finish_exporting(self) -> None:
        head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="links" tests="{self.checked}" '
                f'failures="{len(self.broken)}">\n  <testsuite name="links" tests="{self.checked}" '
                f'failures="{len(self.broken)}" skipped="{self.skipped}" errors="0">\n')  # fmt: skip
        self.file.write(head.encode())
        for case in self.cases:
            self.file.write(case.encode())
        self.file.write(b"  </testsuite>\n</testsuites>\n")


class MarkdownReportExporter(_Report):
    def export_item(self, item: dict[str, Any]) -> dict[str, Any]:
        self.counted(item)
        return item

    def finish_exporting(self) -> None:
        lines = ["# Link check", "", f"{self.checked} URLs checked, **{len(self.broken)} broken**.", ""]
        if self.broken:
            lines += ["| Broken link | Kind | Status or error | Linked from |", "|---|---|---|---|"]
            for item in self.broken:
                referrers = item.get("referrers") or ([item["referrer"]] if item.get("referrer") else [])
                cells = [item["url"], item["kind"], _what_failed(item), "<br>".join(referrers)]
                lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
            lines.append("")
        self.file.write("\n".join(lines).encode())


class BrokenLinkCounter:
    """Counts broken links as records go out, for `-a fail_on=broken`."""

    def __init__(self, crawler):
        self.broken = 0
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)

    def item_scraped(self, item: Any, response: Any = None, spider: Any = None) -> None:
        if isinstance(item, dict) and item.get("is_broken"):
            self.broken += 1
