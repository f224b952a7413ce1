"""Redirects, followed by the spider itself (not by RedirectMiddleware) so that every hop is
recorded: the chain travels in the request's meta with its summed timings and wire bytes, and a
loop, a chain over CRAWL_MAX_REDIRECTS or an unusable Location ends as a failed record."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urljoin

from contract.vocabulary import ErrorType, TaskStatus
from crawler.records import content_type_of, new_record
from crawler.urls import normalise

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.http import Response

    from crawler.records import TaskInfo
    from crawler.spiders.site import SiteSpider


def follow_redirect(spider: SiteSpider, response: Response, task: TaskInfo, hops: list, elapsed: float, ttfb: float,
                    transferred: int) -> Iterator[Any]:  # fmt: skip
    """The next hop's Request, or the task's failed record when the chain must stop here."""
    location = response.headers[b"Location"].decode("latin-1").strip()
    target = urldefrag(urljoin(response.url, location)).url
    hops = [*hops, (response.url, response.status)]
    # A loop is a return to a URL of the chain exactly as fetched, not to one with the same page key:
    # keys leave out the trailing slash and the scheme, so the usual `/docs` -> `/docs/` (a server
    # adding a folder's slash) or http -> https hop would otherwise look like a loop and a broken link.
    visited = {urldefrag(url).url for url, _ in hops}
    error_type = None
    if normalise(target) is None:
        error_type, error = ErrorType.BAD_REDIRECT, f"Redirect to an unsupported URL: {location}"
    elif target in visited:
        error_type, error = ErrorType.REDIRECT_LOOP, f"Redirect loop back to {target}"
    elif len(hops) >= spider.max_redirects:
        error_type, error = ErrorType.TOO_MANY_REDIRECTS, f"More than {spider.max_redirects} redirects"
    if error_type:
        chain = [{"url": url, "status": code} for url, code in hops]
        yield from spider.finish(task, new_record(
            task, TaskStatus.FAILED, http_status=response.status, final_url=target, redirect_chain=chain,
            redirect_hops=len(hops), response_time_ms=round(elapsed * 1000), ttfb_ms=round(ttfb * 1000),
            bytes=transferred, decoded_bytes=len(response.body), content_type=content_type_of(response),
            error=error, error_type=error_type,
        ))  # fmt: skip
        return
    yield spider.request(task, url=target, hops=hops, elapsed=elapsed, transferred=transferred)
