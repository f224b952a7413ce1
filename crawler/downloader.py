"""Scrapy's downloader with its per-slot concurrency enforced.

Scrapy 2.19's `Downloader._process_queue` starts each queued request as a coroutine scheduled for
later, and the coroutine marks its request as transferring only once it runs: a burst of requests
queued for one slot all pass the "free transfer slots" check in the same loop, so a slot's
concurrency (CONCURRENT_REQUESTS_PER_DOMAIN, a DOWNLOAD_SLOTS entry) was not a bound at all (a site
with CONCURRENT_REQUESTS 10 and 2 per domain saw 8 requests at once). The crawl gives external link
checks their own share of CONCURRENT_REQUESTS (crawler/scope.py), so the site's own bound, its
`concurrency` option, must hold by itself: here a request is counted as transferring when it is
taken from the queue. (`_download` adds it again, a no-op on the set, and removes it when done.)
"""
from __future__ import annotations

from typing import Any

from scrapy.core.downloader import Downloader


class SlotBoundDownloader(Downloader):
    def _wait_for_download(self, slot: Any, request: Any, queue_dfd: Any):
        slot.transferring.add(request)
        return super()._wait_for_download(slot, request, queue_dfd)
