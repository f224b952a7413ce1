"""`scrapy crawl`, exiting non-zero when an ad-hoc crawl could not reach its site.

Scrapy's own command exits 1 only when a crawler failed to start. An ad-hoc run (`scrapy crawl
site -a domain=...`, no job) whose start page could not be fetched, because the private-address
guard refused it, the name does not resolve or the connection is refused, has no job to be
`failed` with a reason: the spider logs the reason, and this command turns it into exit status 1
so that scripts notice. A job's crawler (under scrapyd) still exits 0: its job carries the
failure, and scrapyd would log any other status as a process that died.
"""
from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand

from crawler.launcher.protocol import FORKED_ENV

if TYPE_CHECKING:
    import argparse

    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class Command(ScrapyCrawlCommand):
    def __init__(self) -> None:
        super().__init__()
        self.crawler: Crawler | None = None

    def _create_crawler(self, spidercls: type[Spider] | str) -> Crawler:
        self.crawler = super()._create_crawler(spidercls)
        return self.crawler

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if os.environ.get(FORKED_ENV):  # crawler/launcher/zygote.py: say so, for operators and tests
            zygote, forked_at = os.environ[FORKED_ENV].split()
            logger.info("crawl process %d forked by the launcher's zygote %s, %.0f ms ago", os.getpid(), zygote,
                        (time.time() - float(forked_at)) * 1000)  # fmt: skip
        super().run(args, opts)
        spider = getattr(self.crawler, "spider", None)
        if self.exitcode == 0 and getattr(spider, "adhoc_failure", None):
            self.exitcode = 1
