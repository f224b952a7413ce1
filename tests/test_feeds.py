"""The JSON-lines feed exporter (crawler/feeds.py) writes exactly the bytes Scrapy's would."""
from __future__ import annotations

from io import BytesIO

import pytest
from scrapy.exporters import JsonLinesItemExporter

from contract.vocabulary import ErrorType, FoundVia, TaskKind, TaskStatus
from crawler.feeds import RecordLinesExporter
from crawler.records import TaskInfo, new_record

TASK = TaskInfo("http://site.test/caf\u00e9/?q=\u00fc", "site.test/caf\u00e9?q=\u00fc", TaskKind.PAGE, FoundVia.LINK,
                "http://site.test/", 2)  # fmt: skip
RECORDS = [
    new_record(TASK, TaskStatus.COMPLETED, http_status=200, bytes=10, redirect_chain=[{"url": "http://site.test/a", "status": 301}]),
    new_record(TASK, TaskStatus.FAILED, error="HTTP 404 \u2014 \"quoted\"\n", error_type=ErrorType.HTTP_ERROR,
               referrers=["http://site.test/x", "http://site.test/\u00e9"]),
]  # fmt: skip


def export(exporter_class, items, **options) -> bytes:
    file = BytesIO()
    exporter = exporter_class(file, **options)
    exporter.start_exporting()
    for item in items:
        exporter.export_item(item)
    exporter.finish_exporting()
    return file.getvalue()


@pytest.mark.parametrize(
    "options", [{}, {"encoding": "utf-8"}, {"fields_to_export": ["url", "status"]}, {"indent": 2}]
)
def test_every_line_is_what_scrapys_exporter_writes(options):
    assert export(RecordLinesExporter, RECORDS, **options) == export(JsonLinesItemExporter, RECORDS, **options)


def test_the_project_exports_json_lines_with_it():
    from crawler import settings

    assert settings.FEED_EXPORTERS["jsonl"] == settings.FEED_EXPORTERS["jsonlines"] == "crawler.feeds.RecordLinesExporter"
