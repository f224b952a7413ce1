"""The per-URL record: what the crawler records for every URL it meets, field by field.

The crawler builds records as plain dicts with exactly these keys (a dict keeps the hot path cheap
and exports as-is to feeds); the database pipeline stores them as task rows, the API serves them as
tasks (`TaskOut` adds the row id, the issue list and the time), and the export writes these columns.
`docs/crawler.md` says what each field means.
"""
from __future__ import annotations

from pydantic import BaseModel, Field

from contract.vocabulary import CacheStatus, TaskKind, TaskStatus, WarmSkipReason


class RedirectHop(BaseModel):
    url: str
    status: int


class TaskRecord(BaseModel):
    url: str = Field(description="The normalised URL requested.")
    kind: TaskKind
    found_via: str = Field(description="How it was found: a contract.vocabulary.FoundVia value.")
    referrer: str | None = Field(description="The page (or sitemap) that led to it on its shortest path.")
    depth: int = Field(description="Links from the start page on the shortest path.")
    status: TaskStatus
    http_status: int | None = Field(description="Final HTTP status.")
    final_url: str | None
    redirect_chain: list[RedirectHop] | None = Field(description="Every hop, the final response included.")
    redirect_hops: int
    response_time_ms: int | None
    ttfb_ms: int | None
    content_type: str | None = Field(description="Media type without parameters.")
    bytes: int | None = Field(
        description="Body bytes as transferred on the wire: the compressed size when the server compressed "
        "(every hop of a redirect chain included)."
    )
    decoded_bytes: int | None = Field(
        description="Size of the final body after Content-Encoding is undone, at most the size cap "
        "(for a sitemap: the decoded bytes read)."
    )
    truncated: bool = Field(
        description="The body was cut at the size cap, on the wire or once decoded (a sitemap: also when it "
        "had more entries than the sitemap protocol's 50,000)."
    )
    cache_status: CacheStatus | None
    warm_response_time_ms: int | None
    warm_cache_status: CacheStatus | None
    warm_skipped_reason: WarmSkipReason | None = Field(
        description="Why a MISS or EXPIRED page was not fetched again to warm the cache."
    )
    error: str | None
    error_type: str | None = Field(description="A contract.vocabulary.ErrorType value.")
    is_slow: bool
    is_broken: bool
    is_server_error: bool


RECORD_FIELDS = tuple(TaskRecord.model_fields)
# Feeds also carry the pages linking to a broken URL (the database keeps them in their own table).
FEED_FIELDS = (*RECORD_FIELDS, "referrers")
# One spreadsheet row per URL: the nested redirect chain stays in JSON lines.
EXPORT_COLUMNS = tuple(name for name in RECORD_FIELDS if name != "redirect_chain")
