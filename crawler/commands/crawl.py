"""`scrapy crawl`, exiting non-zero when an ad-hoc crawl could not reach its site.

Scrapy's own command exits 1 only when a crawler failed to start. An ad-hoc run (`scrapy crawl
site -a domain=...`, no job) whose start page could not be fetched, because the private-address
guard refused it, the name does not resolve or the connection is refused, has no job to be
`failed` with a reason: the spider logs the reason, and this command turns it into exit status 1
so that scripts notice. A bad `-a` is Scrapy's usage error, exit status 2. With `-a fail_on=broken`
a crawl that found a broken link exits 3 (BROKEN_EXIT_CODE, crawler/ci.py says why each status has
one meaning). A job's crawler (under scrapyd) still exits 0: its job carries the failure, and scrapyd
would log any other status as a process that died.

A crawl without a job run from Scrapy's command line (an ad-hoc run, or a hub's worker started
without the launcher) then ends as the launcher's forked crawls do: garbage collected (Twisted
reports unhandled errors then), exit handlers run, output flushed, and `os._exit`. Python's own
teardown frees every module and object one at a time: ~0.15-0.2 s of CPU, a fifth of a one-page
crawl, with nothing left to write. A job's process (scrapyd's runner) exits the usual way.
"""
from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
import threading
import time
from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand

from crawler.ci import BROKEN_EXIT_CODE
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
        # What is loaded by now (Scrapy, Twisted, this crawler: ~80,000 objects) lives as long as the
        # process: the collector stops walking it in every full collection, the one at exit
        # included (~0.03 s less), as in the launcher's zygote.
        gc.freeze()
        self.check_spider_arguments(args, opts)
        super().run(args, opts)
        spider = getattr(self.crawler, "spider", None)
        if self.exitcode == 0 and getattr(spider, "adhoc_failure", None):
            self.exitcode = 1
        counter = getattr(spider, "broken_links", None)
        if self.exitcode == 0 and counter is not None and counter.broken:  # -a fail_on=broken (crawler/ci.py)
            logger.error("%d broken links found (-a fail_on=broken): exit status %d", counter.broken, BROKEN_EXIT_CODE)
            self.exitcode = BROKEN_EXIT_CODE
        adhoc = spider is not None and getattr(spider, "job_id", None) is None
        if adhoc and not opts.profile and run_from_scrapy_cli():
            exit_without_teardown(self.exitcode)


    def check_spider_arguments(self, args: list[str], opts: argparse.Namespace) -> None:
        """A bad `-a` argument refused here, before the crawl starts, is Scrapy's usage error (the
        message, exit status 2). Refused when Scrapy builds the spider, inside its asyncio task, it
        came out as "Task exception was never retrieved" with a traceback around the message."""
        if len(args) != 1 or self.crawler_process is None:
            return  # Scrapy's own command says what is wrong with the arguments
        try:
            spidercls = self.crawler_process.spider_loader.load(args[0])
        except KeyError:
            return  # "Spider not found", as Scrapy says it
        check = getattr(spidercls, "check_arguments", None)
        if check is not None:
            check(**opts.spargs)


def run_from_scrapy_cli() -> bool:
    """This process is `scrapy ...` or `python -m scrapy ...`: nothing runs after the command. A
    crawl forked by the launcher's zygote is not: the zygote ends it (without teardown already)."""
    if os.environ.get(FORKED_ENV):
        return False
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None:
        return spec.name == "scrapy.__main__"
    return os.path.basename(sys.argv[0]) == "scrapy"


def exit_without_teardown(code: int) -> None:
    """Exit as the interpreter would, less its teardown; the usual exit while another thread that
    Python would wait for still runs."""
    if any(thread.is_alive() and not thread.daemon for thread in threading.enumerate()
           if thread is not threading.main_thread()):  # fmt: skip
        return
    gc.collect()  # what scrapy.cmdline does on exit, for Twisted's unhandled-error reports
    atexit._run_exitfuncs()  # logging's flush and close, weakref finalizers, ...
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
