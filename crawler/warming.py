"""Cache warming: a page the CDN did not serve from cache is fetched once more, after a short
pause, so that the next visitor gets a HIT; the second fetch's time and cache status are recorded.

Only the first fetch of a page that came back MISS or EXPIRED is warmed, and only when a shared
cache may keep its response at all. `Cache-Control: no-store` or `private`, or a `Set-Cookie` on
it (CDNs neither cache nor share such a response by default), would make the second fetch one
more load on the origin for nothing: the record says why it was not warmed instead
(`warm_skipped_reason`). The warm fetch is never retried, redirected or warmed again, so warming
cannot loop.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import Request

from contract.vocabulary import CacheStatus, TaskKind, WarmSkipReason
from crawler.records import warm_fields

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.http import Headers, Response
    from twisted.python.failure import Failure

    from crawler.records import TaskInfo

WARM_STATUSES = frozenset({CacheStatus.MISS, CacheStatus.EXPIRED})


def warm_skip_reason(headers: Headers) -> WarmSkipReason | None:
    """Why a response must not be fetched again to warm a shared cache; None if it may be."""
    directives = set()
    for value in headers.getlist("Cache-Control"):
        for directive in value.decode("latin-1").lower().split(","):
            directives.add(directive.strip())  # `private="Set-Cookie"` names fields: storable without them
    if "no-store" in directives:
        return WarmSkipReason.NO_STORE
    if "private" in directives:
        return WarmSkipReason.PRIVATE
    if headers.get("Set-Cookie") is not None:
        return WarmSkipReason.SET_COOKIE
    return None


class CacheWarmer:
    """Builds the warm fetch of a page and records its outcome through the spider's `finish`."""

    def __init__(self, spider, pause: float):
        self.spider = spider
        self.pause = pause

    def request(self, response: Response, task: TaskInfo, record: dict[str, Any]) -> Request | None:
        """The warm fetch of a first fetch, or None; a page not warmed because its response may not
        be cached gets the reason in its record."""
        if task.kind != TaskKind.PAGE or record["cache_status"] not in WARM_STATUSES:
            return None
        reason = warm_skip_reason(response.headers)
        if reason is not None:
            record["warm_skipped_reason"] = reason
            return None
        return Request(response.url, callback=self.parse, errback=self.failed, dont_filter=True,
                       meta={"task": task, "record": record, "handle_httpstatus_all": True, "dont_redirect": True,
                             "dont_retry": True, "delay_seconds": self.pause})  # fmt: skip

    def parse(self, response: Response) -> Iterator[dict[str, Any]]:
        record = response.meta["record"]
        record.update(warm_fields(response))
        yield from self.spider.finish(response.meta["task"], record)

    def failed(self, failure: Failure) -> Iterator[dict[str, Any]]:
        yield from self.spider.finish(failure.request.meta["task"], failure.request.meta["record"])
