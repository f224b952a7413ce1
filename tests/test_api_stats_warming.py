"""A job's stats report cache warming next to the first-fetch hit ratio, from the job's counters
(pages warmed, hits after warming), as O(1) reads like the other stats."""
from __future__ import annotations


def test_stats_report_pages_warmed_and_the_hit_ratio_after_warming(client, org, make_job):
    # 5 pages with a known cache status: 1 HIT at first; 3 MISSes warmed, 2 of them HIT on the second fetch.
    job_id = make_job(org, status="running", timed_pages=6, response_time_ms_sum=600, cache_known_pages=5,
                      cache_hit_pages=1, warmed_pages=3, cache_hit_pages_after_warming=3, total_bytes=10)  # fmt: skip

    stats = client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()["stats"]

    assert (stats["cache_hit_ratio"], stats["pages_warmed"], stats["cache_hit_ratio_after_warming"]) == (0.2, 3, 0.6)


def test_the_openapi_document_describes_the_warming_stats(client):
    stats = client.get("/v1/openapi.json").get_json()["components"]["schemas"]["Stats"]["properties"]
    assert {"pages_warmed", "cache_hit_ratio_after_warming", "total_bytes"} <= set(stats)
    assert "on the wire" in stats["total_bytes"]["description"]
