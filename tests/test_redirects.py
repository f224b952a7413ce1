"""The redirect hop decision (crawler/redirects.py): what counts as a loop, for pages and external checks."""
from __future__ import annotations

from scrapy.http import HtmlResponse, Request

from contract.vocabulary import ErrorType, FoundVia, TaskKind, TaskStatus
from crawler.records import Download, TaskInfo, new_record, stopped_chain_record
from crawler.redirects import follow_redirect, next_hop


class RecordingSpider:
    """Just what follow_redirect calls on the spider: the next request or the final record."""

    max_redirects = 10

    def request(self, task, url=None, **meta):
        return Request(url, meta=meta)

    def finish(self, task, record):
        return [record]


def hop(url: str, location: str, hops: list | None = None) -> object:
    meta = {"hops": hops or [], "elapsed": 0.01, "transferred": 100, "download_time": 0.02, "download_latency": 0.01}
    response = HtmlResponse(url, status=301, headers={"Location": location}, body=b"", request=Request(url, meta=meta))
    task = TaskInfo(url, url, TaskKind.PAGE, FoundVia.LINK, None, 0)
    (result,) = follow_redirect(RecordingSpider(), response, task, Download.of(response))
    return result


def test_a_folder_redirect_to_its_slash_form_is_followed_not_a_loop():
    result = hop("http://example.test/es/howto", "/es/howto/")
    assert isinstance(result, Request) and result.url == "http://example.test/es/howto/"


def test_a_scheme_upgrade_is_followed():
    result = hop("http://example.test/a", "https://example.test/a")
    assert isinstance(result, Request) and result.url == "https://example.test/a"


def test_a_redirect_to_itself_is_a_loop():
    record = hop("http://example.test/a", "/a#top")
    assert record["error_type"] == ErrorType.REDIRECT_LOOP


def test_a_return_to_an_earlier_hop_is_a_loop():
    record = hop("http://example.test/a/", "/a", hops=[("http://example.test/a", 301)])
    assert record["error_type"] == ErrorType.REDIRECT_LOOP
    assert [step["url"] for step in record["redirect_chain"]] == ["http://example.test/a", "http://example.test/a/"]


def test_the_next_hop_carries_the_chain_its_time_and_its_bytes():
    result = hop("http://example.test/a", "/b", hops=[("http://example.test/start", 302)])
    assert result.meta["hops"] == [("http://example.test/start", 302), ("http://example.test/a", 301)]
    assert result.meta["elapsed"] == 0.01 + 0.02 and result.meta["transferred"] == 100


def test_a_stopped_chain_is_timed_over_every_hop_and_names_the_target_it_did_not_fetch():
    record = hop("http://example.test/a", "/a")
    assert (record["status"], record["http_status"], record["final_url"]) == ("failed", 301, "http://example.test/a")
    assert (record["response_time_ms"], record["ttfb_ms"], record["bytes"]) == (30, 20, 100)
    assert record["cache_status"] is None and record["redirect_hops"] == 1


def response_to(url: str, location: str) -> HtmlResponse:
    return HtmlResponse(url, status=302, headers={"Location": location}, body=b"", request=Request(url))


def test_next_hop_is_one_decision_for_every_stop():
    chain = [("http://example.test/a", 301), ("http://example.test/b", 302)]
    assert next_hop(response_to("http://example.test/b", "/c#x"), chain, 10) == ("http://example.test/c", None)
    assert next_hop(response_to("http://example.test/b", "/a"), chain, 10)[1][0] == ErrorType.REDIRECT_LOOP
    assert next_hop(response_to("http://example.test/b", "/c"), chain, 2)[1] == (ErrorType.TOO_MANY_REDIRECTS,
                                                                                "More than 2 redirects")  # fmt: skip
    target, stop = next_hop(response_to("http://example.test/b", "ftp://example.test/f"), chain, 10)
    assert stop == (ErrorType.BAD_REDIRECT, "Redirect to an unsupported URL: ftp://example.test/f")


def test_an_external_checks_stopped_chain_is_the_record_it_was_before_the_builder():
    """crawler/external.py built it by hand with new_record: the answer's status, no timings, broken."""
    url = "http://ext.test/a"
    meta = {"hops": [("http://ext.test/start", 301)], "elapsed": 0.01, "download_time": 0.02, "transferred": 7}
    response = HtmlResponse(url, status=302, headers={"Location": "/a"}, body=b"x", request=Request(url, meta=meta))
    task = TaskInfo("http://ext.test/start", "k", TaskKind.EXTERNAL, FoundVia.LINK, "http://site.test/", 1)
    target, stop = next_hop(response, [*meta["hops"], (url, 302)], 10)
    record = stopped_chain_record(task, response, Download.of(response), target, *stop, measured=False, is_broken=True)
    chain = [{"url": "http://ext.test/start", "status": 301}, {"url": url, "status": 302}]
    assert record == new_record(
        task, TaskStatus.FAILED, http_status=302, final_url=url, redirect_chain=chain, redirect_hops=2,
        error_type=ErrorType.REDIRECT_LOOP, error=f"Redirect loop back to {url}", is_broken=True,
    )  # fmt: skip
    assert list(record) == list(new_record(task, TaskStatus.FAILED))  # the feed's field order
