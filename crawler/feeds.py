"""The JSON-lines feed (`scrapy crawl site -O pages.jsonl`), written without Scrapy's per-field walk.

Scrapy's JsonLinesItemExporter copies every item field by field through its serializer hooks before
encoding it: 27 calls per record, for records that are plain dicts with no serializers. When no
FEED_EXPORT_FIELDS selection applies, this one encodes the dict as it is, with the same encoder, so
every line is byte for byte what Scrapy's would be (tests/test_feeds.py); otherwise it is Scrapy's.
"""
from __future__ import annotations

from typing import Any

from scrapy.exporters import JsonLinesItemExporter


class RecordLinesExporter(JsonLinesItemExporter):
    def export_item(self, item: Any) -> None:
        if self.fields_to_export is not None or type(item) is not dict:
            super().export_item(item)
            return
        self.file.write((self.encoder.encode(item) + "\n").encode(self.encoding or "utf-8"))
