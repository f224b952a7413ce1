"""The frontier's admission rules, without a crawl: each URL once, exact max_pages, the traps,
and the referrers kept for broken links."""
from __future__ import annotations

from crawler.frontier import Frontier
from crawler.records import TaskInfo, new_record
from crawler.urls import SiteScope, normalise


def make_frontier(**limits) -> tuple[Frontier, list]:
    late = []
    settings = {"max_pages": 0, "max_depth": 3, "max_url_length": 60, "max_query_variants": 2, **limits}
    return Frontier(SiteScope("site.test", None, True), on_late_referrer=lambda *a: late.append(a), **settings), late


def admit(frontier, url, referrer="http://site.test/", depth=1, kind="page", found_via="link"):
    canonical, key, _, _ = normalise(url)
    return frontier.admit(canonical, key, found_via, referrer, depth, kind)


def test_a_url_is_admitted_once_whatever_its_spelling():
    frontier, _ = make_frontier()
    task, skipped = admit(frontier, "http://site.test/a/?b=2&a=1#top")
    assert task is not None and skipped is None
    assert admit(frontier, "https://SITE.test/a?a=1&b=2") == (None, None)
    assert frontier.total_tasks == 1


def test_max_pages_is_exact_and_a_robots_skip_gives_its_place_to_a_waiting_page():
    frontier, _ = make_frontier(max_pages=2)
    first, _ = admit(frontier, "http://site.test/1")
    admit(frontier, "http://site.test/2")
    assert admit(frontier, "http://site.test/3") == (None, None)  # waits, unrecorded
    assert admit(frontier, "http://site.test/4") == (None, None)
    promoted = frontier.release_page(first)  # /1 was disallowed by robots.txt
    assert promoted.url == "http://site.test/3"
    records = frontier.over_limit_records()
    assert [(r["url"], r["status"], r["error_type"]) for r in records] == [("http://site.test/4", "skipped", "max_pages")]
    assert frontier.total_tasks == 4 and set(frontier.outstanding) == {"site.test/1", "site.test/2", "site.test/3"}


def test_resources_do_not_count_against_max_pages():
    frontier, _ = make_frontier(max_pages=1)
    admit(frontier, "http://site.test/1")
    task, _ = admit(frontier, "http://site.test/logo.png", kind="resource")
    assert task is not None


def test_depth_length_and_query_traps_are_skipped_with_their_reason():
    frontier, _ = make_frontier()
    assert admit(frontier, "http://site.test/deep", depth=4)[1]["error_type"] == "max_depth"
    assert admit(frontier, "http://site.test/" + "x" * 80)[1]["error_type"] == "url_too_long"
    assert admit(frontier, "http://site.test/cal?m=1")[0] is not None
    assert admit(frontier, "http://site.test/cal?m=2")[0] is not None
    assert admit(frontier, "http://site.test/cal?m=3")[1]["error_type"] == "query_trap"


def test_referrers_of_a_failed_url_make_it_a_broken_link_and_later_ones_are_reported():
    frontier, late = make_frontier()
    task, _ = admit(frontier, "http://site.test/missing", referrer="http://site.test/a")
    admit(frontier, "http://site.test/missing", referrer="http://site.test/b")
    record = frontier.close(task, new_record(task, "failed", http_status=404))
    assert record["is_broken"] and record["referrers"] == ["http://site.test/a", "http://site.test/b"]
    admit(frontier, "http://site.test/missing", referrer="http://site.test/c")
    assert late == [("http://site.test/missing", "http://site.test/c")]


def test_a_url_that_succeeded_keeps_no_referrers():
    frontier, late = make_frontier()
    task, _ = admit(frontier, "http://site.test/ok", referrer="http://site.test/a")
    record = frontier.close(task, new_record(task, "completed", http_status=200))
    assert not record["is_broken"] and record["referrers"] is None
    admit(frontier, "http://site.test/ok", referrer="http://site.test/b")
    assert frontier.pending_referrers == {} and late == []


def test_unfinished_urls_become_skipped_records():
    frontier, _ = make_frontier()
    frontier.add(TaskInfo("http://site.test/", "site.test/", "page", "start", None, 0))
    admit(frontier, "http://site.test/x")
    records = frontier.unfinished_records("cancelled", "Not fetched: the job was cancelled")
    assert {r["url"] for r in records} == {"http://site.test/", "http://site.test/x"}
    assert all(r["status"] == "skipped" and r["error_type"] == "cancelled" for r in records)
    assert frontier.outstanding == {}
