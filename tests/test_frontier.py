"""The frontier's admission rules, without a crawl: each URL once, exact max_pages, the traps,
the referrers kept for broken links, and records released with their shortest depth."""
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
    assert task is not None and skipped == []
    assert admit(frontier, "https://SITE.test/a?a=1&b=2") == (None, [])
    assert frontier.total_tasks == 1


def test_max_pages_is_exact_and_a_robots_skip_gives_its_place_to_a_waiting_page():
    frontier, _ = make_frontier(max_pages=2)
    for n in range(1, 5):  # ranked as they are found (crawler/priority.py), unrecorded
        assert admit(frontier, f"http://site.test/{n}") == (None, [])
    first, second = list(frontier.to_fetch())  # the budget goes to pages as they are handed out
    assert (first.url, second.url) == ("http://site.test/1", "http://site.test/2")
    assert list(frontier.to_fetch()) == []
    frontier.release_page(first)  # /1 was disallowed by robots.txt
    assert [task.url for task in frontier.to_fetch()] == ["http://site.test/3"]
    records = frontier.idle_records()
    assert [(r["url"], r["status"], r["error_type"]) for r in records] == [("http://site.test/4", "skipped", "max_pages")]
    assert frontier.total_tasks == 4 and set(frontier.outstanding) == {"site.test/1", "site.test/2", "site.test/3"}


def test_resources_do_not_count_against_max_pages():
    frontier, _ = make_frontier(max_pages=1)
    admit(frontier, "http://site.test/1")
    task, _ = admit(frontier, "http://site.test/logo.png", kind="resource")
    assert task is not None


def test_sitemap_documents_are_outstanding_tasks_but_not_in_total_tasks_nor_against_max_pages():
    frontier, _ = make_frontier(max_pages=1)
    canonical, key, _, _ = normalise("http://site.test/sitemap.xml")
    sitemap = TaskInfo(canonical, "sitemap:" + key, "sitemap", "robots", None, 0)
    frontier.add(sitemap, produces_from=1)
    admit(frontier, "http://site.test/1")
    assert list(frontier.to_fetch()) == []  # a link waits while a sitemap may list a page ranked higher
    frontier.close(sitemap, new_record(sitemap, "completed", http_status=200))
    assert [task.url for task in frontier.to_fetch()] == ["http://site.test/1"]  # the one page max_pages allows
    assert frontier.total_tasks == 1 and len(frontier.outstanding) == 1


def test_depth_length_and_query_traps_are_skipped_with_their_reason():
    frontier, _ = make_frontier()
    assert admit(frontier, "http://site.test/deep", depth=4)[1][0]["error_type"] == "max_depth"
    assert admit(frontier, "http://site.test/" + "x" * 80)[1][0]["error_type"] == "url_too_long"
    assert admit(frontier, "http://site.test/cal?m=1")[0] is not None
    assert admit(frontier, "http://site.test/cal?m=2")[0] is not None
    assert admit(frontier, "http://site.test/cal?m=3")[1][0]["error_type"] == "query_trap"


def test_referrers_of_a_failed_url_make_it_a_broken_link_and_later_ones_are_reported():
    frontier, late = make_frontier()
    task, _ = admit(frontier, "http://site.test/missing", referrer="http://site.test/a")
    admit(frontier, "http://site.test/missing", referrer="http://site.test/b")
    [record] = frontier.close(task, new_record(task, "failed", http_status=404))
    assert record["is_broken"] and record["referrers"] == ["http://site.test/a", "http://site.test/b"]
    admit(frontier, "http://site.test/missing", referrer="http://site.test/c")
    assert late == [("http://site.test/missing", "http://site.test/c")]


def test_a_url_that_succeeded_keeps_no_referrers():
    frontier, late = make_frontier()
    task, _ = admit(frontier, "http://site.test/ok", referrer="http://site.test/a")
    [record] = frontier.close(task, new_record(task, "completed", http_status=200))
    assert not record["is_broken"] and record["referrers"] is None
    admit(frontier, "http://site.test/ok", referrer="http://site.test/b")
    assert frontier.pending_referrers == {} and late == []


def test_unfinished_urls_become_skipped_records():
    frontier, _ = make_frontier()
    frontier.add(TaskInfo("http://site.test/", "site.test/", "page", "start", None, 0), produces_from=0)
    admit(frontier, "http://site.test/x")
    records = frontier.unfinished_records("cancelled", "Not fetched: the job was cancelled")
    assert {r["url"] for r in records} == {"http://site.test/", "http://site.test/x"}
    assert all(r["status"] == "skipped" and r["error_type"] == "cancelled" for r in records)
    assert frontier.outstanding == {}


# --- Shortest depths: records are released once no unfinished URL could lower them ---------------

SITE = "http://site.test"


def start(frontier) -> TaskInfo:
    task = TaskInfo(SITE + "/", "site.test/", "page", "start", None, 0)
    frontier.add(task, produces_from=0)
    return task


def fetched(frontier, task, status="completed") -> list[tuple[str, int, str | None]]:
    """Record `task` as fetched: (path, depth, referrer path) of the records released."""
    released = frontier.close(task, new_record(task, status, http_status=200))
    return [(r["url"].removeprefix(SITE), r["depth"], r["referrer"] and r["referrer"].removeprefix(SITE))
            for r in released]


def test_a_shorter_path_that_arrives_later_lowers_the_depth_of_the_url_and_of_what_it_led_to():
    """/target is reached from /c (depth 2) before the slow /a (depth 1) answers."""
    frontier, _ = make_frontier(max_depth=10)
    home = start(frontier)
    a, _ = admit(frontier, SITE + "/a", referrer=SITE + "/", depth=1)
    b, _ = admit(frontier, SITE + "/b", referrer=SITE + "/", depth=1)
    assert fetched(frontier, home) == [("/", 0, None)]
    c, _ = admit(frontier, SITE + "/c", referrer=SITE + "/b", depth=2)
    assert fetched(frontier, b) == [("/b", 1, "/")]
    target, _ = admit(frontier, SITE + "/target", referrer=SITE + "/c", depth=3)
    assert fetched(frontier, c) == []  # depth 2 while /a (depth 1) may still lead to it
    child, _ = admit(frontier, SITE + "/target-child", referrer=SITE + "/target", depth=4)
    assert fetched(frontier, target) == [] and fetched(frontier, child) == []
    assert admit(frontier, SITE + "/target", referrer=SITE + "/a", depth=2) == (None, [])  # /a answers at last
    assert fetched(frontier, a) == [
        ("/a", 1, "/"), ("/c", 2, "/b"), ("/target", 2, "/a"), ("/target-child", 3, "/target"),
    ]  # fmt: skip


def test_a_link_sent_with_an_old_depth_gets_its_referrers_current_depth():
    """A worker process parses a page with the depth it was sent, which the hub may have lowered since."""
    frontier, _ = make_frontier(max_depth=10)
    home = start(frontier)
    slow, _ = admit(frontier, SITE + "/slow", referrer=SITE + "/", depth=1)
    fetched(frontier, home)
    mid, _ = admit(frontier, SITE + "/mid", referrer=SITE + "/fast", depth=3)  # via a deeper path
    admit(frontier, SITE + "/mid", referrer=SITE + "/slow", depth=2)  # lowered to 2
    leaf, _ = admit(frontier, SITE + "/leaf", referrer=SITE + "/mid", depth=4)  # the worker still says 3 + 1
    assert leaf.depth == 3


def test_records_deeper_than_a_sitemap_can_reach_wait_until_it_is_read():
    frontier, _ = make_frontier(max_depth=10)
    home = start(frontier)
    mid, _ = admit(frontier, SITE + "/mid", referrer=SITE + "/", depth=1)
    frontier.begin_discovery(1)  # robots.txt is being read: its sitemaps list URLs at depth 1
    fetched(frontier, home)
    deep, _ = admit(frontier, SITE + "/deep", referrer=SITE + "/mid", depth=2)
    assert fetched(frontier, mid) == [("/mid", 1, "/")]
    assert fetched(frontier, deep) == []
    admit(frontier, SITE + "/deep", referrer=SITE + "/sitemap.xml", depth=1, found_via="sitemap")
    [record] = frontier.end_discovery(1)
    assert (record["url"], record["depth"], record["found_via"], record["referrer"]) == (
        SITE + "/deep", 1, "sitemap", SITE + "/sitemap.xml")


def test_a_cancel_releases_held_records_as_they_are_and_skips_the_rest():
    frontier, _ = make_frontier(max_depth=10)
    home = start(frontier)
    slow, _ = admit(frontier, SITE + "/slow", referrer=SITE + "/", depth=1)
    fast, _ = admit(frontier, SITE + "/fast", referrer=SITE + "/", depth=1)
    fetched(frontier, home)
    fetched(frontier, fast)
    deep, _ = admit(frontier, SITE + "/deep", referrer=SITE + "/fast", depth=2)
    assert fetched(frontier, deep) == []
    records = frontier.unfinished_records("cancelled", "Not fetched: the job was cancelled")
    statuses = {(r["url"].removeprefix(SITE), r["status"]) for r in records}
    assert statuses == {("/deep", "completed"), ("/slow", "skipped")}


def test_pages_full_once_sitemaps_listed_max_pages_pages_and_never_without_max_pages():
    """What the sitemap reader asks before each entry: past this, a page would only wait. Links
    found do not fill it (a sitemap entry may rank above them); entries listed do, beside the start page."""
    frontier, _ = make_frontier(max_pages=3)
    for n in range(5):
        admit(frontier, f"http://site.test/link{n}")
    assert not frontier.pages_full
    admit(frontier, "http://site.test/a", found_via="sitemap")
    assert not frontier.pages_full
    admit(frontier, "http://site.test/b", found_via="sitemap")
    assert frontier.pages_full
    unlimited, _ = make_frontier()
    for n in range(5):
        admit(unlimited, f"http://site.test/{n}")
    assert not unlimited.pages_full


# --- Bounds: what the frontier keeps on a site that never ends (docs/crawler.md) -------------------


def endless_page(frontier, number: int, links: int = 20) -> list:
    """Page `number` of an endless site is fetched: it links to `links` new pages."""
    referrer = f"{SITE}/p/{number}"
    return [admit(frontier, f"{SITE}/p/{number * links + i}", referrer=referrer, depth=1)[0] for i in range(1, links + 1)]


def test_only_max_in_flight_urls_are_handed_out_at_once_the_rest_wait_in_order():
    frontier, _ = make_frontier(max_depth=10)
    frontier.max_in_flight = 5
    home = start(frontier)
    frontier.hand_out(home)
    endless_page(frontier, 0)
    handed = list(frontier.to_fetch())
    assert [task.url for task in handed] == [f"{SITE}/p/{n}" for n in (1, 2, 3, 4)]  # 5 with the start page
    assert len(frontier.pending) == 16 and list(frontier.to_fetch()) == []
    frontier.close(handed[0], new_record(handed[0], "completed", http_status=200))
    assert [task.url for task in frontier.to_fetch()] == [f"{SITE}/p/5"]  # first come, first out


def test_an_unlimited_job_is_capped_by_the_instance_and_says_so():
    frontier, _ = make_frontier(max_depth=10, instance_max_pages=3)
    start(frontier)
    endless_page(frontier, 0, links=5)
    assert frontier.max_pages == 3 and frontier.pages_admitted == 3 and len(frontier.waiting) == 3
    records = frontier.idle_records()
    assert {r["error"] for r in records} == {"Over this instance's limit of 3 pages per job (MAX_PAGES_PER_JOB)"}
    assert frontier.limit_note() == "Stopped at this instance's limit of 3 pages per job (MAX_PAGES_PER_JOB)"
    lower, _ = make_frontier(max_pages=2, instance_max_pages=3)  # the job's own limit is lower: no note
    start(lower)
    admit(lower, SITE + "/x")
    admit(lower, SITE + "/y")
    assert lower.max_pages == 2 and lower.limit_note() is None


def test_pages_over_the_limit_past_the_waiting_bound_are_counted_not_remembered(monkeypatch):
    monkeypatch.setattr("crawler.frontier.WAITING_MAX", 10)
    frontier, _ = make_frontier(max_depth=10, instance_max_pages=5)
    start(frontier)
    for number in range(3):
        endless_page(frontier, number)
    assert len(frontier.waiting) == 10 and frontier.not_remembered == 60 - 4 - 10
    assert len(frontier.seen) == 1 + 4 + 10 and frontier.total_tasks == 15
    assert frontier.limit_note().endswith("; 46 more links to pages over it were neither followed nor recorded")


def test_the_href_cache_starts_again_at_its_bound(monkeypatch):
    monkeypatch.setattr("crawler.frontier.HREF_CACHE_MAX", 3)
    frontier, _ = make_frontier()
    for n in range(7):
        frontier.remember_href(f"{SITE}/{n}", f"site.test/{n}")
    assert len(frontier.href_keys) <= 3 and frontier.href_keys[f"{SITE}/6"] == "site.test/6"


def test_a_jobs_records_go_out_at_once_and_a_shorter_path_corrects_them():
    """The slow-page case above, for a job: nothing waits for /a; its link corrects /target and
    /target-child, whose records went out at depths 3 and 4."""
    corrected = []
    frontier, _ = make_frontier(max_depth=10, on_corrected=lambda task: corrected.append(
        (task.url.removeprefix(SITE), task.depth, task.referrer.removeprefix(SITE))))  # fmt: skip
    home = start(frontier)
    a, _ = admit(frontier, SITE + "/a", referrer=SITE + "/", depth=1)
    b, _ = admit(frontier, SITE + "/b", referrer=SITE + "/", depth=1)
    assert fetched(frontier, home) == [("/", 0, None)]
    c, _ = admit(frontier, SITE + "/c", referrer=SITE + "/b", depth=2)
    assert fetched(frontier, b) == [("/b", 1, "/")]
    target, _ = admit(frontier, SITE + "/target", referrer=SITE + "/c", depth=3)
    assert fetched(frontier, c) == [("/c", 2, "/b")]
    child, _ = admit(frontier, SITE + "/target-child", referrer=SITE + "/target", depth=4)
    assert fetched(frontier, target) == [("/target", 3, "/c")] and fetched(frontier, child) == [("/target-child", 4, "/target")]
    admit(frontier, SITE + "/target", referrer=SITE + "/a", depth=2)  # /a answers at last
    assert corrected == [("/target", 2, "/a"), ("/target-child", 3, "/target")]
    assert fetched(frontier, a) == [("/a", 1, "/")]
    assert frontier.gate.tasks == {} and frontier.gate.early == {}  # all final: nothing kept


def test_a_feed_holds_records_for_depth_order_up_to_its_bound():
    frontier, _ = make_frontier(max_depth=10)
    frontier.gate.hold_max = 3
    home = start(frontier)
    slow, _ = admit(frontier, SITE + "/slow", referrer=SITE + "/", depth=1)
    fast, _ = admit(frontier, SITE + "/fast", referrer=SITE + "/", depth=1)
    fetched(frontier, home)
    fetched(frontier, fast)
    deep = [admit(frontier, f"{SITE}/d{n}", referrer=SITE + "/fast", depth=2)[0] for n in range(5)]
    released = [fetched(frontier, task) for task in deep]  # held while /slow (depth 1) may lead to them
    assert released == [[], [], [], [("/d0", 2, "/fast")], [("/d1", 2, "/fast")]]
    assert frontier.gate.held_count == 3 and frontier.gate.forced == 2


def test_only_the_urls_a_crawl_will_fetch_count_towards_starting_workers():
    """A 3-page job that found 20 pages holds 17 only to record them skipped (crawler/roles.py
    starts workers on to_be_fetched, not on every URL in hand)."""
    ranked, _ = make_frontier(max_depth=10, max_pages=3)
    ranked.hand_out(start(ranked))
    endless_page(ranked, 0)
    assert len(ranked.outstanding) == 21 and ranked.to_be_fetched == 3  # the start page and 2 of the ranked
    handed = list(ranked.to_fetch())
    assert len(handed) == 2 and ranked.to_be_fetched == 3
    admit(ranked, SITE + "/style.css", kind="resource")  # resources are not under max_pages
    assert ranked.to_be_fetched == 4
    capped, _ = make_frontier(max_depth=10, instance_max_pages=3)  # waiting over the instance's limit
    capped.hand_out(start(capped))
    endless_page(capped, 0, links=5)
    assert len(capped.waiting) == 3 and capped.to_be_fetched == 3
    unlimited, _ = make_frontier(max_depth=10)
    start(unlimited)
    endless_page(unlimited, 0)
    assert unlimited.to_be_fetched == len(unlimited.outstanding) == 21


def test_urls_counted_in_flight_at_idle_without_a_request_are_recorded_and_leave_the_count():
    """At idle nothing of this process is in flight; a worker's URLs are. The count used to be set
    to 0 there: a URL that lost its Request went without a record, and a worker's record coming
    later took the count below zero (more than max_in_flight handed out from then on)."""
    frontier, _ = make_frontier(max_depth=10)
    home = frontier.hand_out(start(frontier))
    frontier.close(home, new_record(home, "completed", http_status=200))
    endless_page(frontier, 0, links=3)
    lost_one, lost_two, at_worker = frontier.to_fetch()
    assert frontier.in_flight == 3
    lost = frontier.lost(elsewhere={at_worker.key})
    assert lost == [lost_one, lost_two]
    records = frontier.record_lost(lost)
    assert frontier.in_flight == 1 and frontier.record_lost(lost) == []  # once
    assert {r["url"]: (r["status"], r["error_type"]) for r in records} == {
        lost_one.url: ("skipped", "interrupted"), lost_two.url: ("skipped", "interrupted")}
    frontier.close(at_worker, new_record(at_worker, "completed", http_status=200))  # the worker's record
    assert frontier.in_flight == 0 and frontier.lost() == []
