"""scrapyd's web root for our nodes (scrapyd.conf `webroot`): a job starts when it is scheduled.

scrapyd starts queued jobs from a timer (`poll_interval`): a job scheduled through schedule.json
waited for the next tick, on average half the interval, before its crawl began (0.1 s of a POST's
~0.3 s to the first request, at our 0.2 s interval). Here schedule.json polls the queue once more
right after it has queued the job, so a node with a free slot starts it at once; the timer still
starts the jobs that wait for a slot. Everything else is scrapyd's own Root, unchanged.

Imported by scrapyd's process, which loads it by name from its configuration: stdlib, Twisted and
scrapyd only, nothing of the crawler.
"""
from __future__ import annotations

from twisted.internet import reactor
from scrapyd.interfaces import ISpiderScheduler
from scrapyd.website import Root as ScrapydRoot


class PollingScheduler:
    """scrapyd's scheduler, whose `schedule` also asks the poller to look at the queue, once the
    web request that scheduled the job has been answered."""

    def __init__(self, scheduler, poller):
        self._scheduler = scheduler
        self._poller = poller

    def schedule(self, *args, **kwargs) -> None:
        self._scheduler.schedule(*args, **kwargs)
        reactor.callLater(0, self._poller.poll)

    def __getattr__(self, name: str):
        return getattr(self._scheduler, name)


class Root(ScrapydRoot):
    @property
    def scheduler(self) -> PollingScheduler:
        return PollingScheduler(self.app.getComponent(ISpiderScheduler), self.poller)
