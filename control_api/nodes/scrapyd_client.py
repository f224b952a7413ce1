"""Client for scrapyd's JSON API: schedule, cancel and list spider runs on one or more nodes.

scrapyd reports most errors as HTTP 200 with {"status": "error"}, so every answer's body is checked.
An unreachable node, a timeout, a non-JSON answer or an error status all raise SchedulerUnavailable;
its subclasses say whether scrapyd could have acted on the call, which the dispatcher needs: a call
that never reached it (SchedulerUnreachable) changed nothing there, while one that was sent and got
no answer in time (SchedulerSilent: a frozen or overloaded scrapyd) may still be carried out.

What an API request waits for (handing a job over, a best-effort cancel) uses `for_handover()`, a
copy with the short HANDOVER timeout: a frozen scrapyd must not hold an API worker for
SCRAPYD_TIMEOUT; the dispatcher's loop and the reconciler wait the full SCRAPYD_TIMEOUT. A crawl
log (GET /v1/jobs/{id}/log) is streamed: its connection has LOG_CONNECT_TIMEOUT, and each read,
the answer's head and every chunk after it, LOG_READ_TIMEOUT (both at most SCRAPYD_TIMEOUT), so a
slow or unreachable node answers the client with 503 in seconds, and a log that stops coming ends
with a line saying so rather than holding the API worker.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import requests
import urllib3
from urllib3.exceptions import NewConnectionError

from control_api.domain_errors import Unavailable

logger = logging.getLogger(__name__)

SPIDER = "site"
MAX_PARALLEL_PROBES = 16
# A crawl log's connection, and its longest silence: scrapyd serves it as a static file, so bytes
# come at once or not at all; a node on loopback or a LAN connects in milliseconds.
LOG_CONNECT_TIMEOUT, LOG_READ_TIMEOUT = 1.0, 5.0
LOG_CHUNK_BYTES = 64 * 1024
T = TypeVar("T")


class SchedulerUnavailable(Unavailable):
    """scrapyd refused a call (an error answer), or could not be asked (the subclasses). str() is
    the node's reason, which logs print; `message` is what an API client reads (errors.py: 503)."""

    def __init__(self, reason: str):
        super().__init__("scheduler_unavailable", reason)


class SchedulerUnreachable(SchedulerUnavailable):
    """The call never reached scrapyd (connection refused, no connection in time): nothing happened there."""


class SchedulerSilent(SchedulerUnavailable):
    """The call was sent but its answer did not come in time: scrapyd may still carry it out."""


@dataclass
class ScrapydClient:
    urls: list[str]
    project: str = "crawler"
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    handover_timeout: float = 0.5  # see for_handover()
    # Each node's capacity (its scrapyd max_proc) from SCRAPYD_URL's `#slots=N`; a node not named
    # here has no limit of ours and scrapyd queues what it cannot run yet.
    slots: dict[str, int] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScrapydClient:
        return cls(
            urls=list(config["SCRAPYD_URLS"]),
            project=config["SCRAPYD_PROJECT"],
            username=config["SCRAPYD_USERNAME"],
            password=config["SCRAPYD_PASSWORD"],
            timeout=config["SCRAPYD_TIMEOUT"],
            handover_timeout=min(config["SCRAPYD_HANDOVER_TIMEOUT"], config["SCRAPYD_TIMEOUT"]),
            slots=dict(config.get("SCRAPYD_SLOTS") or {}),
        )

    def for_handover(self) -> ScrapydClient:
        """The same client (and connections) with the short timeout of calls an API request waits for."""
        return replace(self, timeout=self.handover_timeout)

    def with_timeout(self, seconds: float) -> ScrapydClient:
        return replace(self, timeout=min(seconds, self.timeout))

    @property
    def _auth(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username else None

    def _call(self, node: str, method: str, endpoint: str, **params: Any) -> dict[str, Any]:
        auth = self._auth
        try:
            if method == "GET":
                response = self.session.get(f"{node}/{endpoint}", params=params, auth=auth, timeout=self.timeout)
            else:
                response = self.session.post(f"{node}/{endpoint}", data=params, auth=auth, timeout=self.timeout)
        except requests.RequestException as exc:
            raise self._no_answer(node, exc) from exc
        try:
            body = response.json()
        except ValueError:
            raise SchedulerUnavailable(f"scrapyd at {node} answered HTTP {response.status_code} without JSON") from None
        if response.status_code != 200 or body.get("status") != "ok":
            message = body.get("message") or f"HTTP {response.status_code}"
            raise SchedulerUnavailable(f"scrapyd at {node} refused {endpoint}: {str(message).strip()}")
        return body

    def pick_node(self) -> str:
        """The least loaded reachable node (pending + running); the first one when there is only one."""
        if len(self.urls) == 1:
            return self.urls[0]
        loads = []
        for node in self.urls:
            try:
                status = self._call(node, "GET", "daemonstatus.json")
            except SchedulerUnavailable as exc:
                logger.warning("skipping scrapyd node: %s", exc)
                continue
            loads.append((status.get("pending", 0) + status.get("running", 0), node))
        if not loads:
            raise SchedulerUnavailable("no scrapyd node is reachable")
        return min(loads)[1]

    def schedule(self, job_id: str, spider_args: dict[str, Any], settings: dict[str, Any], node: str | None = None) -> str:
        """Start the crawl on `node` (the dispatcher's choice), else on the least loaded node."""
        node = node or self.pick_node()
        params: dict[str, Any] = {"project": self.project, "spider": SPIDER, "jobid": job_id}
        params.update({key: _arg(value) for key, value in spider_args.items()})
        params["setting"] = [f"{key}={_arg(value)}" for key, value in sorted(settings.items())]
        self._call(node, "POST", "schedule.json", **params)
        return node

    def cancel(self, node: str, job_id: str) -> str | None:
        body = self._call(node, "POST", "cancel.json", project=self.project, job=job_id)
        return body.get("prevstate")

    def list_jobs(self, node: str) -> dict[str, list[dict[str, Any]]]:
        return self._call(node, "GET", "listjobs.json", project=self.project)

    def daemon_status(self, node: str) -> dict[str, Any]:
        return self._call(node, "GET", "daemonstatus.json")

    def crawl_log(self, node: str, job_id: str) -> requests.Response | None:
        """The crawl's log file as a streamed response; None when the node has no log for it."""
        url = f"{node}/logs/{self.project}/{SPIDER}/{job_id}.log"
        timeouts = (min(LOG_CONNECT_TIMEOUT, self.timeout), min(LOG_READ_TIMEOUT, self.timeout))
        try:
            response = self.session.get(url, auth=self._auth, timeout=timeouts, stream=True)
        except requests.RequestException as exc:
            raise self._no_answer(node, exc, timeouts[1]) from exc
        if response.status_code == 404:
            response.close()
            return None
        if response.status_code != 200:
            response.close()
            raise SchedulerUnavailable(f"scrapyd at {node} refused the log: HTTP {response.status_code}")
        return response

    @staticmethod
    def log_chunks(node: str, response: requests.Response) -> Iterator[bytes]:
        """A crawl_log() response's bytes as they come, then closed. The client has had its 200 by
        then, so a node that goes silent mid-log (LOG_READ_TIMEOUT) ends the text with a line saying so."""
        with response:
            try:
                # read1: what has arrived, up to a chunk (iter_content waits for a whole chunk, and
                # loses what it had when the read times out).
                while chunk := response.raw.read1(LOG_CHUNK_BYTES, decode_content=True):
                    yield chunk
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                logger.warning("crawl log from %s cut short: %s", node, exc)
                yield (f"\n[the crawl log is cut short here: scrapyd at {node} stopped sending it "
                       f"({exc.__class__.__name__})]\n").encode()

    def _no_answer(self, node: str, exc: requests.RequestException, waited: float | None = None) -> SchedulerUnavailable:  # fmt: skip
        if _never_sent(exc):
            return SchedulerUnreachable(f"scrapyd at {node} is unreachable: {exc.__class__.__name__}")
        waited = waited or self.timeout
        return SchedulerSilent(f"scrapyd at {node} did not answer within {waited:g} s ({exc.__class__.__name__})")


def ask_each(urls: list[str], call: Callable[[str], T]) -> dict[str, T | SchedulerUnavailable]:
    """`call(node)` for every node at once, so that frozen nodes cost one timeout, not one each:
    {node: its answer, or the SchedulerUnavailable it raised}."""

    def ask(node: str) -> T | SchedulerUnavailable:
        try:
            return call(node)
        except SchedulerUnavailable as exc:
            return exc

    if len(urls) == 1:
        return {urls[0]: ask(urls[0])}
    with ThreadPoolExecutor(min(len(urls), MAX_PARALLEL_PROBES)) as pool:
        return dict(zip(urls, pool.map(ask, urls)))


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached scrapyd: no connection was made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", exc.args[0]) if exc.args else None
    return isinstance(reason, NewConnectionError)  # refused, no route, name not resolved


def _arg(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
