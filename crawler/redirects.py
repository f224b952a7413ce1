"""Redirects, followed by the spider itself (not by RedirectMiddleware) so that every hop is
recorded: the chain travels in the request's meta with its summed timings and wire bytes, and a
loop, a chain over CRAWL_MAX_REDIRECTS or an unusable Location ends as a failed record."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urljoin

from contract.vocabulary import ErrorType, TaskStatus
from crawler.records import redirect_chain, response_record
from crawler.urls import normalise

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.http import Response

    from crawler.records import Download, TaskInfo
    from crawler.spiders.site import SiteSpider


def follow_redirect(spider: SiteSpider, response: Response, task: TaskInfo, download: Download) -> Iterator[Any]:
    """The next hop's Request, or the task's failed record when the chain must stop here."""
    location = response.headers[b"Location"].decode("latin-1").strip()
    target = urldefrag(urljoin(response.url, location)).url
    meta = download.next_hop_meta(response)
    hops = meta["hops"]
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
        # The chain ends at this hop: it is the last of the chain, the target is never fetched, and
        # the hop's cache status is not the page's (none is recorded).
        yield from spider.finish(task, response_record(
            task, response, download, status=TaskStatus.FAILED, final_url=target, redirect_chain=redirect_chain(hops),
            redirect_hops=len(hops), cache_status=None, error=error, error_type=error_type,
        ))  # fmt: skip
        return
    yield spider.request(task, url=target, **meta)
