"""What a batch of records adds to its job's counters (crawler/jobstore.py counter_increments):
progress counts the URLs the crawl checks (pages and resources), not sitemap documents; total_bytes
is every task's wire bytes; the cache ratios are over pages whose cache status is known, after
warming counting a warmed page by its second fetch."""
from __future__ import annotations

from crawler.jobstore import counter_increments
from crawler.records import TaskInfo, new_record


def record(path: str, status: str = "completed", kind: str = "page", **fields) -> dict:
    task = TaskInfo(f"http://site.test{path}", path, kind, "link", None, 1)
    defaults = {"http_status": 200, "response_time_ms": 10, "bytes": 100} if status != "skipped" else {}
    return new_record(task, status, **{**defaults, **fields})


def test_sitemap_documents_are_not_progress_but_their_bytes_count():
    counts = counter_increments([
        record("/", bytes=1000), record("/missing", "failed", http_status=404, bytes=50),
        record("/secret", "skipped", error_type="robots"), record("/logo.png", kind="resource", bytes=300),
        record("/sitemap.xml", kind="sitemap", bytes=2000), record("/sitemap-broken.xml", "failed", kind="sitemap", bytes=10),
    ])  # fmt: skip
    assert (counts["completed_tasks"], counts["failed_tasks"], counts["skipped_tasks"]) == (2, 1, 1)
    assert counts["total_bytes"] == 1000 + 50 + 300 + 2000 + 10
    assert counts["timed_pages"] == 2  # pages with a response; not the resource, not the sitemaps


def test_warmed_pages_and_hits_after_warming():
    counts = counter_increments([
        record("/hit", cache_status="HIT"),
        record("/warmed", cache_status="MISS", warm_cache_status="HIT", warm_response_time_ms=5),
        record("/still-missing", cache_status="EXPIRED", warm_cache_status="MISS", warm_response_time_ms=5),
        record("/no-store", cache_status="MISS", warm_skipped_reason="no_store"),
        record("/dynamic", cache_status="DYNAMIC"),
        record("/unknown"),
        record("/logo.png", kind="resource", cache_status="MISS"),  # resources are not in the cache stats
    ])  # fmt: skip
    assert (counts["cache_known_pages"], counts["cache_hit_pages"]) == (5, 1)
    assert (counts["warmed_pages"], counts["cache_hit_pages_after_warming"]) == (2, 2)
