"""The redirect hop decision (crawler/redirects.py): what counts as a loop."""
from __future__ import annotations

from scrapy.http import HtmlResponse, Request

from contract.vocabulary import ErrorType, FoundVia, TaskKind
from crawler.records import Download, TaskInfo
from crawler.redirects import follow_redirect


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
