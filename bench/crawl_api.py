"""A whole crawl through the service: POST /v1/jobs -> scrapyd -> crawler -> `completed`.

The API runs in-process (Flask app, test client, as the integration tests do) against a real
scrapyd node started with `control_api.processes.scrapyd_node.start_node`; both share a fresh SQLite
database. What this adds over the crawl phase alone is everything a user waits for: scheduling,
scrapyd's queue poll, the crawler process start-up (Python, Scrapy, imports) and the job's
lifecycle writes.

- pages/s = task rows of kind `page` with an HTTP status / (job `completed_at` - the moment just
  before POST), both on this machine's wall clock.
- POST -> first request = the first `$msec` in nginx's access log after the POST (logging is on for
  this measurement only). nginx writes `$msec` when it logs the request, i.e. when the (small)
  response has been sent, so this is an upper bound by well under a millisecond.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.crawl import check_job
from bench.proc import PROBLEM
from bench.server import SiteServer, free_port, log

TERMINAL = {"completed", "failed", "cancelled"}


@dataclass
class ApiCrawlResult:
    pages: int
    seconds: float  # POST -> completed
    first_request_seconds: float | None  # POST -> first request nginx logged
    problems: list[str] = field(default_factory=list)

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds


class ApiCrawler:
    """scrapyd + the API in-process, for the duration of a `with` block."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.database_url = f"sqlite:///{workdir / 'api-crawl.db'}"
        self.scrapyd_dir = workdir / "scrapyd"
        self.scrapyd = None
        self.app = None

    def __enter__(self) -> ApiCrawler:
        from sqlalchemy.orm import Session

        from control_api import create_app
        from control_api.nodes.scrapyd_client import ScrapydClient
        from control_api.processes.scrapyd_node import start_node, wait_until_ready
        from control_api.organisations.tokens import create_organisation
        from db import migrate

        migrate.upgrade(self.database_url)
        port = free_port()
        env = {"DATABASE_URL": self.database_url, "ALLOW_PRIVATE_TARGETS": "1", "CRAWLER_LOG_LEVEL": "INFO"}
        self.scrapyd = start_node(self.scrapyd_dir, port, env=env)
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, self.scrapyd)
        self.app = create_app({"DATABASE_URL": self.database_url, "SCRAPYD_URLS": [url],
                               "ALLOW_PRIVATE_TARGETS": True, "RATE_LIMIT_PER_MINUTE": 0})  # fmt: skip
        self.app.extensions["scheduler"] = ScrapydClient.from_config(self.app.config)
        with Session(self.app.extensions["db_engine"]) as session, session.begin():
            _, token = create_organisation(session, "bench")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.client = self.app.test_client()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.app is not None:
            self.app.extensions["db_engine"].dispose()
        if self.scrapyd is not None and self.scrapyd.poll() is None:
            self.scrapyd.terminate()
            try:
                self.scrapyd.wait(timeout=15)
            except Exception:  # noqa: BLE001 - a stuck scrapyd must still go
                self.scrapyd.kill()
                self.scrapyd.wait()

    def crawl(self, server: SiteServer, concurrency: int, expected_pages: int, timeout: float) -> ApiCrawlResult:
        body = {"domain": server.origin, "options": {"concurrency": concurrency}}
        posted = time.time()
        response = self.client.post("/v1/jobs", json=body, headers=self.headers)
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/jobs answered {response.status_code}: {response.get_data(as_text=True)}")
        job_id = response.get_json()["id"]
        deadline = time.monotonic() + timeout
        while True:
            job = self.client.get(f"/v1/jobs/{job_id}", headers=self.headers).get_json()
            if job["status"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} still {job['status']} after {timeout:.0f} s")
            time.sleep(0.05)
        seen = time.time()
        completed_at = datetime.fromisoformat(job["completed_at"]).timestamp() if job.get("completed_at") else seen
        first = min((t for t in server.logged_times() if t >= posted), default=None)
        check = check_job(self.database_url, job_id)
        problems = self.log_problems(job_id)
        if job["status"] != "completed" or check["counters"] != check["rows"]:
            problems.append(f"job {job_id} ended {job['status']} ({job.get('error')}); check {check}")
        if check["pages"] < expected_pages:
            problems.append(f"only {check['pages']} of {expected_pages} pages fetched; "
                            f"not fetched by error_type: {check['not_fetched']}")  # fmt: skip
        return ApiCrawlResult(check["pages"], completed_at - posted, first - posted if first else None, problems)

    def log_problems(self, job_id: str, limit: int = 10) -> list[str]:
        path = self.scrapyd_dir / "logs" / "crawler" / "site" / f"{job_id}.log"
        if not path.exists():
            log(f"no scrapyd log for job {job_id} at {path}")
            return []
        lines = path.read_text(errors="replace").splitlines()
        return [line.strip()[:300] for line in lines if PROBLEM.search(line)][:limit]
