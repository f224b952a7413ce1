"""Redirects, followed by the spider itself (not by RedirectMiddleware) so that every hop is
recorded: the chain travels in the request's meta with its summed timings and wire bytes, and a
loop, a chain over CRAWL_MAX_REDIRECTS or an unusable Location ends as a failed record."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urljoin

from contract.vocabulary import ErrorType
from crawler.records import stopped_chain_record
from crawler.urls import normalise

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.http import Response

    from crawler.records import Download, TaskInfo
    from crawler.spiders.site import SiteSpider


def next_hop(response: Response, hops: list[tuple[str, int]], max_redirects: int) -> tuple[str, tuple[ErrorType, str] | None]:
    """Where `response`'s Location leads, and why the chain must stop there instead (None: follow it).

    `hops`: the chain so far, `response` last. One decision for the site's pages and resources
    (`follow_redirect`) and for external link checks (crawler/external.py)."""
    location = response.headers[b"Location"].decode("latin-1").strip()
    target = urldefrag(urljoin(response.url, location)).url
    # A loop is a return to a URL of the chain exactly as fetched, not to one with the same page key:
    # keys leave out the trailing slash and the scheme, so the usual `/docs` -> `/docs/` (a server
    # adding a folder's slash) or http -> https hop would otherwise look like a loop and a broken link.
    if normalise(target) is None:
        return target, (ErrorType.BAD_REDIRECT, f"Redirect to an unsupported URL: {location}")
    if target in {urldefrag(url).url for url, _ in hops}:
        return target, (ErrorType.REDIRECT_LOOP, f"Redirect loop back to {target}")
    if len(hops) >= max_redirects:
        return target, (ErrorType.TOO_MANY_REDIRECTS, f"More than {max_redirects} redirects")
    return target, None


def follow_redirect(spider: SiteSpider, response: Response, task: TaskInfo, download: Download) -> Iterator[Any]:
    """The next hop's Request, or the task's failed record when the chain must stop here."""
    meta = download.next_hop_meta(response)
    target, stop = next_hop(response, meta["hops"], spider.max_redirects)
    if stop is not None:
        yield from spider.finish(task, stopped_chain_record(task, response, download, target, *stop))
        return
    yield spider.request(task, url=target, **meta)
