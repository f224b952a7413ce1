"""The depth rule under every order the hub can receive its workers' messages in, without a crawl.

tests/sites/behaviour.py's depth site (/target is two clicks away through /a and three through /b
and /c) is fetched by simulated workers: each gets the hub's Fetch (with the depth the hub knew
then) and answers with its LinkFound messages, computed from that depth, then its RecordMade. The
hub's own message handling (crawler/roles.py HubProcess._drain) runs on every prefix of every
interleaving of those messages, one message at a time, the deeper path first included. Whatever
the order, each URL ends at its click depth with the referrer on that path: in the records (a feed,
which holds them) or in the records plus their corrections (a job, which releases them at once).
"""
from __future__ import annotations

import random
import zlib
from collections import Counter, deque
from types import SimpleNamespace

import pytest

from contract.vocabulary import FoundVia, TaskKind
from crawler.frontier import Frontier
from crawler.hub import Fetch, LinkFound, RecordMade
from crawler.records import TaskInfo, new_record
from crawler.roles import HubProcess
from crawler.urls import SiteScope, normalise

SITE = "http://depth.test"
LINKS = {"/": ("/a", "/b"), "/a": ("/target",), "/b": ("/c",), "/c": ("/target",), "/target": ("/target-child",),
         "/target-child": ()}  # fmt: skip
DEPTHS = {"/": 0, "/a": 1, "/b": 1, "/c": 2, "/target": 2, "/target-child": 3}
REFERRERS = {"/": None, "/a": "/", "/b": "/", "/c": "/b", "/target": "/a", "/target-child": "/target"}


class FakeHub:
    """The hub's transport: every URL goes to a worker; messages are handed in by the test."""

    started = workers_coming = True

    def __init__(self) -> None:
        self.sent: list[Fetch] = []
        self.inbox: list = []

    def wants(self, task: TaskInfo) -> bool:
        return True

    def assign(self, task: TaskInfo) -> bool:
        self.sent.append(Fetch(task.url, task.key, task.kind, task.found_via, task.referrer, task.depth))
        return True

    def drain(self) -> list:
        messages, self.inbox = self.inbox, []
        return messages


class FakeStats(Counter):
    def inc_value(self, key: str, count: int = 1) -> None:
        self[key] += count


class Simulation:
    """A hub (its real message handling and frontier) and `workers` simulated workers, each with its
    own cache of links it has already sent (it then sends only the referrer and depth)."""

    def __init__(self, workers: int, correct_later: bool):
        self.corrections: dict[str, tuple[int, str | None]] = {}
        self.frontier = Frontier(SiteScope("depth.test", None, True), max_pages=0, max_depth=50, max_url_length=2048,
                                 max_query_variants=50, on_late_referrer=lambda *_: None,
                                 on_corrected=self._corrected if correct_later else None)  # fmt: skip
        self.role = HubProcess.__new__(HubProcess)  # its message handling, without processes
        self.role.frontier, self.role.hub, self.role.threshold = self.frontier, FakeHub(), 0
        self.role.worker_concurrency, self.role.share_reached, self.role.for_workers = 1, True, deque()
        self.role.spider = SimpleNamespace(crawler=SimpleNamespace(stats=FakeStats()))  # the hub counts what it sends
        self.workers = workers
        self.known: list[set[str]] = [set() for _ in range(workers)]
        self.queues: dict[str, list] = {}  # fetched URL -> its messages not delivered yet
        self.records: dict[str, dict] = {}
        self.first_path_to_target: str | None = None
        start = TaskInfo(SITE + "/", normalise(SITE + "/")[1], TaskKind.PAGE, FoundVia.START, None, 0)
        self.frontier.add(start, produces_from=0)
        self.role.hub.assign(self.frontier.hand_out(start))
        self._fetch_sent()

    def _corrected(self, task: TaskInfo) -> None:
        self.corrections[task.url] = (task.depth, task.referrer)

    def _fetch_sent(self) -> None:
        """Workers fetch what the hub sent: their answers queue up, in the order each would send them."""
        for fetch in self.role.hub.sent:
            worker = zlib.crc32(fetch.key.encode()) % self.workers
            messages = []
            for path in LINKS[fetch.url.removeprefix(SITE)]:
                canonical, key, _, _ = normalise(SITE + path)
                new = key not in self.known[worker]
                self.known[worker].add(key)
                messages.append(LinkFound(canonical if new else None, key, FoundVia.LINK, fetch.url, fetch.depth + 1,
                                          TaskKind.PAGE))  # fmt: skip
            task = TaskInfo(fetch.url, fetch.key, fetch.kind, fetch.found_via, fetch.referrer, fetch.depth)
            messages.append(RecordMade(fetch.key, new_record(task, "completed", http_status=200)))
            self.queues[fetch.url] = messages
        self.role.hub.sent.clear()

    def choices(self) -> list[str]:
        return sorted(url for url, messages in self.queues.items() if messages)

    def deliver(self, url: str, whole: bool) -> None:
        """The next message (or all of them) of the worker that fetched `url` reaches the hub, which
        handles it."""
        messages = self.queues[url] if whole else self.queues[url][:1]
        self.queues[url] = [] if whole else self.queues[url][1:]
        for message in messages:
            if isinstance(message, LinkFound) and message.key.endswith("/target") and self.first_path_to_target is None:
                self.first_path_to_target = message.referrer.removeprefix(SITE)
        self.role.hub.inbox.extend(messages)
        for item in self.role._drain(None):
            self.records[item["url"]] = item
        self._fetch_sent()

    def finish(self) -> dict[str, tuple[int, str | None]]:
        for item in self.frontier.idle_records():
            self.records[item["url"]] = item
        final = {url: (record["depth"], record["referrer"]) for url, record in self.records.items()}
        final.update(self.corrections)
        return {url.removeprefix(SITE): (depth, referrer and referrer.removeprefix(SITE))
                for url, (depth, referrer) in final.items()}


def every_order(workers: int, correct_later: bool, whole: bool):
    """Each complete order of delivery, replayed from the start: (its choices, the simulation).
    `whole`: a page's messages arrive together (one frame), else one at a time."""
    pending = [[]]
    while pending:
        prefix = pending.pop()
        simulation = Simulation(workers, correct_later)
        for url in prefix:
            simulation.deliver(url, whole)
        options = simulation.choices()
        if not options:
            yield prefix, simulation
        pending.extend(prefix + [url] for url in options)


def sampled_orders(workers: int, correct_later: bool, count: int, seed: int):
    """`count` orders of delivery message by message, each message chosen by a seeded generator
    among the workers' next ones (all such orders are millions)."""
    chooser = random.Random(seed)
    for _ in range(count):
        simulation, choices = Simulation(workers, correct_later), []
        while options := simulation.choices():
            choices.append(chooser.choice(options))
            simulation.deliver(choices[-1], whole=False)
        yield choices, simulation


@pytest.mark.parametrize("correct_later", [False, True], ids=["feed holds records", "job corrects rows"])
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("by_message", [False, True], ids=["every order page by page", "2,000 orders by message"])
def test_every_order_of_worker_messages_gives_every_url_its_click_depth(by_message, workers, correct_later):
    orders = deeper_first = 0
    if by_message:
        cases = sampled_orders(workers, correct_later, 2000, seed=workers)
    else:
        cases = every_order(workers, correct_later, whole=True)
    for choices, simulation in cases:
        final = simulation.finish()
        expected = {path: (DEPTHS[path], REFERRERS[path]) for path in DEPTHS}
        assert final == expected, f"delivery order {choices}"
        orders += 1
        deeper_first += simulation.first_path_to_target == "/c"
    assert orders >= 10 and deeper_first > 0, (orders, deeper_first)  # the deeper path came first in some


class OneHereHub(FakeHub):
    """Every URL to a worker but /extra, which the hub fetches itself (its Request is output)."""

    def wants(self, task: TaskInfo) -> bool:
        return not task.url.endswith("/extra")


def test_a_drain_handles_every_message_before_the_next_drain_starts():
    """Scrapy takes a callback's output a piece at a time and interleaves callbacks: a drain that
    handled its messages lazily could be suspended at its first output (a Request for /extra)
    while a later drain handled the RecordMade that /a's worker sent after its link to /target.
    /a then stopped producing before its link was seen, and /target went out at 3, not 2."""
    simulation = Simulation(workers=1, correct_later=False)
    simulation.role.hub = hub = OneHereHub()
    simulation.role.spider.request = lambda task: f"request {task.url}"
    hub.sent = []
    simulation.deliver(SITE + "/", whole=True)
    target = normalise(SITE + "/target")[1]
    simulation.known[0].discard(target)  # /a's answer is written below: /c's link to /target is its first
    for path in ("/b", "/c", "/target"):  # the deeper path first; /a is slow
        simulation.deliver(SITE + path, whole=True)
    child = normalise(SITE + "/target-child")[1]
    extra_canonical, extra = normalise(SITE + "/extra")[:2]
    a_record = simulation.queues[SITE + "/a"][-1]
    # The worker's stream: /target-child's link to /extra, /a's link to /target, /a's record, in
    # two frames (two drains).
    hub.inbox = [LinkFound(extra_canonical, extra, FoundVia.LINK, SITE + "/target-child", 4, TaskKind.PAGE),
                 LinkFound(None, target, FoundVia.LINK, SITE + "/a", 2, TaskKind.PAGE)]  # fmt: skip
    first = iter(simulation.role._drain(None))
    assert next(first) == f"request {SITE}/extra"  # taken; the rest of its output not yet
    hub.inbox = [a_record]
    out = [*simulation.role._drain(None), *first]
    records = {item["url"]: item for item in out if isinstance(item, dict)}
    records.update((item["url"], item) for item in simulation.frontier.idle_records())
    assert (records[SITE + "/target"]["depth"], records[SITE + "/target"]["referrer"]) == (2, SITE + "/a")
    assert child in simulation.frontier.outstanding  # still being fetched: not recorded here
