"""Which pages max_pages keeps (crawler/priority.py, through crawler/frontier.py): the start page,
its navigation's links, sitemap entries by <priority>, then by depth; links wait while a sitemap
is being read; the pages left out are recorded skipped. An unlimited crawl keeps its order."""
from __future__ import annotations

from scrapy.http import HtmlResponse

from crawler.frontier import Frontier
from crawler.priority import Ranking, navigation_keys, parse_priority
from crawler.records import TaskInfo, new_record
from crawler.urls import SiteScope, normalise

SITE = "http://site.test"
SCOPE = SiteScope("site.test", None, True)
START_PAGE = f"""<html><body>
<header><a href="/">logo</a> <a href="/about">About</a></header>
<main>{"".join(f'<a href="/article/{n}">article {n}</a>' for n in range(30))}</main>
<footer><nav><a href="/docs">Docs</a> <a href="/pricing#plans">Pricing</a> <a href="https://other.test/x">out</a></nav>
<div role="navigation"><a href="blog/">Blog</a></div></footer></body></html>"""


def frontier(max_pages: int) -> Frontier:
    return Frontier(SCOPE, max_pages=max_pages, max_depth=10, max_url_length=500, max_query_variants=5,
                    on_late_referrer=lambda *a: None)  # fmt: skip


def admit(front: Frontier, path: str, found_via: str = "link", depth: int = 1, priority: str | None = None):
    canonical, key, _, _ = normalise(SITE + path)
    if found_via == "sitemap":
        front.note_sitemap_priority(priority)
    return front.admit(canonical, key, found_via, f"{SITE}/", depth, "page")


def start(front: Frontier) -> TaskInfo:
    canonical, key, _, _ = normalise(SITE + "/")
    task = TaskInfo(canonical, key, "page", "start", None, 0)
    front.add(task, produces_from=0)
    return front.hand_out(task)


def fetched(front: Frontier) -> list[str]:
    return [task.url.removeprefix(SITE) for task in front.to_fetch()]


def test_the_navigation_of_the_start_page_in_document_order_within_the_site():
    keys = navigation_keys(START_PAGE.encode(), f"{SITE}/", SCOPE)
    assert keys == ["site.test/", "site.test/about", "site.test/docs", "site.test/pricing", "site.test/blog"]


def test_sitemap_priorities_are_numbers_between_0_and_1():
    assert [parse_priority(v) for v in ("1.0", "0.3", " 0.5 ", None, "high", "2", "-1")] == [1.0, 0.3, 0.5, None, None, None, None]


def test_max_pages_keeps_the_navigation_then_sitemap_priority_then_depth():
    front = frontier(max_pages=8)
    home = start(front)
    front.begin_discovery(1)  # robots.txt and the sitemaps are being read
    response = HtmlResponse(f"{SITE}/", body=START_PAGE.encode(), encoding="utf-8")
    front.ranking.read_start_page(response, SCOPE)
    for n in range(30):  # the body's links come first in the page, the navigation last
        admit(front, f"/article/{n}")
    for path in ("/about", "/docs", "/pricing", "/blog/"):
        admit(front, path)
    front.close(home, new_record(home, "completed", http_status=200))
    assert fetched(front) == ["/about", "/docs", "/pricing", "/blog/"]  # the rest wait for the sitemaps
    admit(front, "/article/3", found_via="sitemap", priority="0.2")  # known already: keeps its rank
    admit(front, "/products", found_via="sitemap", priority="0.9")
    admit(front, "/deep/legal", found_via="sitemap", depth=1)  # no priority: by depth, in order found
    admit(front, "/campaign", found_via="sitemap", priority="1.0")
    front.end_discovery(1)
    assert front.pending and fetched(front) == ["/campaign", "/products", "/article/0"]
    skipped = front.idle_records()
    assert len(skipped) == 30 - 1 + 1 and {r["error_type"] for r in skipped} == {"max_pages"}
    assert front.pages_admitted == 8


def test_deeper_pages_wait_for_shallower_ones_found_later():
    ranking = Ranking()
    for path, depth in (("/deep", 3), ("/shallow", 1), ("/middle", 2), ("/shallow2", 1)):
        ranking.push(TaskInfo(SITE + path, "site.test" + path, "page", "link", f"{SITE}/x", depth))
    assert [ranking.pop_ready().url.removeprefix(SITE) for _ in range(4)] == ["/shallow", "/shallow2", "/middle", "/deep"]


def test_an_unlimited_crawl_has_no_ranking_and_hands_out_in_the_order_found():
    front = frontier(max_pages=0)
    assert front.ranking is None
    start(front)
    assert admit(front, "/b", depth=2)[0] is not None and admit(front, "/a")[0] is not None
    assert fetched(front) == ["/b", "/a"]


def test_the_start_pages_redirect_target_ranks_first():
    ranking = Ranking()
    ranking.navigation = {"site.test/nav": 0}
    ranking.push(TaskInfo(f"{SITE}/nav", "site.test/nav", "page", "link", f"{SITE}/", 1))
    ranking.push(TaskInfo("http://www.site.test/", "www.site.test/", "page", "redirect", f"{SITE}/", 0))
    assert [ranking.pop_ready().url for _ in range(2)] == ["http://www.site.test/", f"{SITE}/nav"]
