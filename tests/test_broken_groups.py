"""Broken links a page at a time, grouped by the page that links and by broken URL
(control_api/jobs/results/broken_groups.py), and redirect chains with every hop (dashboard/chains.py)."""
from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from control_api.dashboard.chains import chain_hops
from control_api.jobs.results import broken_groups
from db.models import BrokenLinkReferrer, Job, Task

HOME, ALSO = "http://example.com/", "http://example.com/also"


def add_broken_site(engine, job_id: str, count: int = 500) -> list[str]:
    """`count` dead URLs linked from the home page, the first two also from /also; one dead URL no
    page links to (a sitemap entry), one failed fetch that no link is broken to (a 500 of its own)."""
    targets = [f"http://example.com/gone/{n:03d}" for n in range(count)]
    with Session(engine) as session, session.begin():
        for url in [*targets, "http://example.com/orphan"]:
            url_hash = uuid.uuid4().hex[:16]
            session.add(Task(job_id=job_id, url=url, url_hash=url_hash, found_via="link", status="failed", http_status=404,
                             is_broken=True))  # fmt: skip
            for referrer in ((HOME, ALSO) if url in targets[:2] else (HOME,) if url in targets else ()):
                session.add(BrokenLinkReferrer(job_id=job_id, target_url_hash=url_hash, referrer=referrer))
        session.add(Task(job_id=job_id, url=HOME, url_hash=uuid.uuid4().hex[:16], found_via="start", status="completed", http_status=200))
    return targets


def test_500_broken_links_from_one_page_are_one_row_with_its_count(engine, org, make_job):
    job_id = make_job(org, status="completed")
    targets = add_broken_site(engine, job_id)
    with Session(engine) as session:
        job = session.get(Job, job_id)
        page = broken_groups.by_source(session, job, 0, 20)
        assert page.total == 2
        assert [(row["source"], row["count"]) for row in page.rows] == [(HOME, 500), (ALSO, 2)]
        assert [t["url"] for t in page.rows[0]["targets"]] == targets[: broken_groups.TARGETS_PER_SOURCE]
        assert [t["url"] for t in page.rows[1]["targets"]] == targets[:2] and page.rows[1]["targets"][0]["http_status"] == 404
        assert broken_groups.by_source(session, job, 20, 20).rows == []


def test_the_reverse_view_pages_every_broken_url_most_linked_first(engine, org, make_job):
    job_id = make_job(org, status="completed")
    targets = add_broken_site(engine, job_id)
    with Session(engine) as session:
        job = session.get(Job, job_id)
        first = broken_groups.by_target(session, job, 0, 20)
        assert first.total == 501  # the orphan too: broken, linked from no page
        assert [(row["url"], row["count"]) for row in first.rows[:3]] == [(targets[0], 2), (targets[1], 2), (targets[2], 1)]
        assert first.rows[0]["referrers"] == [HOME, ALSO]
        seen = [row["url"] for offset in range(0, 520, 20) for row in broken_groups.by_target(session, job, offset, 20).rows]
        assert len(seen) == 501 and set(seen) == {*targets, "http://example.com/orphan"}
        last = broken_groups.by_target(session, job, 500, 20).rows
        assert last == [{"url": "http://example.com/orphan", "http_status": 404, "error": None, "count": 0, "referrers": []}]


def test_a_redirect_chain_lists_every_hop_and_marks_where_a_loop_returns():
    chain = {"url": "http://a/1", "final_url": None, "error_type": "redirect_loop",
             "chain": [{"url": "http://a/1", "status": 301}, {"url": "http://a/2", "status": 302}, {"url": "http://a/1", "status": 301}]}  # fmt: skip
    hops = chain_hops(chain)
    assert hops.loop and [(hop.url, hop.status, hop.repeats) for hop in hops.hops] == [
        ("http://a/1", 301, None), ("http://a/2", 302, None), ("http://a/1", 301, 0)]
    straight = chain_hops({"url": "http://a/1", "final_url": "http://a/3", "error_type": None,
                           "chain": [{"url": "http://a/1", "status": 301}, {"url": "http://a/2", "status": 301}]})  # fmt: skip
    assert not straight.loop and [hop.url for hop in straight.hops] == ["http://a/1", "http://a/2", "http://a/3"]
    told = chain_hops({"url": "http://a/1", "final_url": None, "error_type": "redirect_loop", "chain": []})
    assert told.loop and [hop.url for hop in told.hops] == ["http://a/1"]  # a loop the crawler named, hops unknown
