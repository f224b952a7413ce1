"""Crawl-phase measurements: our `site` spider with the pipeline off and on, and the baseline.

Each run is a fresh `python -m scrapy` process against the nginx-served site:

- pipeline off: an ad-hoc run (`-a domain=http://127.0.0.1:PORT`); without a job id the database
  pipeline and the job lifecycle raise NotConfigured / do nothing, so only the crawl itself runs.
- pipeline on: the same command plus `-a _job=<id>` and the spider arguments and settings the API
  would hand scrapyd (`control_api/nodes/dispatcher.py`'s `spider_arguments`), against a fresh migrated SQLite database
  holding that job's row. Afterwards the job's counters are checked against its task rows.
- baseline: `scrapy runspider bench/baseline_spider.py` from a directory outside the project, so
  Scrapy's default settings apply.

All three write the same JSON-lines feed to a temp file (cost equal for all; it is how we count the
pages fetched), so "pipeline cost" isolates the database pipeline.
"""
from __future__ import annotations

import os
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench import proc
from contract.paths import PROJECT_ROOT


@dataclass
class CrawlResult:
    pages: int
    crawl_seconds: float
    cpu_seconds: float
    max_rss_mb: float
    problems: list[str] = field(default_factory=list)
    check: dict | None = None  # pipeline on: counters vs rows

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.crawl_seconds

    @property
    def cpu_per_1000_pages(self) -> float:
        return self.cpu_seconds * 1000.0 / self.pages


@dataclass
class Target:
    """The served site a crawl runs against, and where its files go."""

    origin: str
    pages: int
    workdir: Path

    @property
    def timeout(self) -> float:
        return 120.0 + self.pages * 0.05  # generous: ~20 pages/s would still finish


def crawler_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SCRAPY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["ALLOW_PRIVATE_TARGETS"] = "1"
    env.update(extra)
    return env


def _common_settings(concurrency: int) -> list[str]:
    # Per-domain concurrency too: the whole site is one host, and the API sets both for a job.
    return ["-s", f"CONCURRENT_REQUESTS={concurrency}", "-s", f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}",
            "-s", "LOG_LEVEL=INFO", "-s", "LOGSTATS_INTERVAL=0"]  # fmt: skip


def _finish(run: proc.ProcessRun, feed: Path, expected: int) -> CrawlResult:
    pages, not_fetched = proc.count_feed_pages(feed)
    if pages == 0:
        raise RuntimeError(f"the crawl fetched no pages: {run.problems()[:3]}")
    problems = run.problems()
    if run.stats.get("finish_reason") not in (None, "finished"):
        problems.append(f"finish_reason={run.stats.get('finish_reason')}")
    if pages < expected:
        problems.append(f"only {pages} of {expected} pages fetched; not fetched by error_type: {dict(not_fetched)}")
    feed.unlink(missing_ok=True)
    seconds = float(run.stats.get("elapsed_time_seconds") or run.wall_seconds)
    return CrawlResult(pages, seconds, run.cpu_seconds, run.max_rss_mb, problems)


def crawl_ours(target: Target, concurrency: int, tag: str) -> CrawlResult:
    """Pipeline off: the ad-hoc crawl."""
    feed = target.workdir / f"{tag}.jsonl"
    command = [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"domain={target.origin}",
               *_common_settings(concurrency), "-O", f"{feed}:jsonlines"]  # fmt: skip
    run = proc.run(command, crawler_env(DATABASE_URL=f"sqlite:///{target.workdir / 'unused.db'}", CRAWL_PROCESSES="1"),
                   PROJECT_ROOT, target.workdir / f"{tag}.log", target.timeout)  # fmt: skip
    return _finish(run, feed, target.pages)


def crawl_baseline(target: Target, concurrency: int, tag: str) -> CrawlResult:
    feed = target.workdir / f"{tag}.jsonl"
    spider = Path(__file__).with_name("baseline_spider.py")
    command = [sys.executable, "-m", "scrapy", "runspider", str(spider), "-a", f"start={target.origin}/",
               *_common_settings(concurrency), "-s", "ROBOTSTXT_OBEY=False", "-O", f"{feed}:jsonlines"]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if not key.startswith("SCRAPY_")}
    # cwd outside the project tree: Scrapy looks for scrapy.cfg in the cwd and every parent, and
    # finding ours would load crawler.settings (our middlewares, our resolver) into the baseline.
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as cwd:
        run = proc.run(command, env, Path(cwd), target.workdir / f"{tag}.log", target.timeout)
    if "(bot: crawler)" in run.log:
        raise RuntimeError("the baseline picked up the project's settings; see " + str(target.workdir / f"{tag}.log"))
    return _finish(run, feed, target.pages)


def make_job(database_url: str, origin: str, concurrency: int) -> tuple[str, dict, dict]:
    """A job row as POST /v1/jobs would store it; returns (id, spider args, settings) for scrapyd."""
    from sqlalchemy.orm import Session

    from contract.targets import parse_domain
    from control_api.jobs.service import get_or_create_domain
    from control_api.nodes.dispatcher import spider_arguments
    from contract.options import JobOptions
    from control_api.organisations.tokens import create_organisation
    from db.engine import make_engine
    from db.models import Job, utcnow

    engine = make_engine(database_url)
    target = parse_domain(origin)
    with Session(engine) as session, session.begin():
        organisation, _ = create_organisation(session, "bench")
        domain = get_or_create_domain(session, target.name)
        job = Job(id=str(uuid.uuid4()), organisation_id=organisation.id, domain_id=domain.id, domain=domain,
                  status="created", start_scheme=target.scheme, claim=uuid.uuid4().hex, options=JobOptions(concurrency=concurrency).model_dump(),
                  created_at=utcnow())  # fmt: skip
        session.add(job)
        session.flush()
        args, settings = spider_arguments(job)
        job_id = job.id
    engine.dispose()
    return job_id, args, settings


def check_job(database_url: str, job_id: str) -> dict:
    """The job's status, its counters' sum and its task rows: the two numbers must be equal."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from db.engine import make_engine
    from db.models import Job, Task

    engine = make_engine(database_url)
    with Session(engine) as session:
        job = session.get(Job, job_id)
        # Sitemap documents are task rows but not progress (SPEC): the counters sum the other rows.
        rows = session.scalar(select(func.count()).select_from(Task).where(Task.job_id == job_id, Task.kind != "sitemap"))
        pages = session.scalar(select(func.count()).select_from(Task).where(
            Task.job_id == job_id, Task.kind == "page", Task.http_status.is_not(None)))  # fmt: skip
        not_fetched = dict(session.execute(select(Task.error_type, func.count()).where(
            Task.job_id == job_id, Task.kind == "page", Task.http_status.is_(None)).group_by(Task.error_type)).all())  # fmt: skip
        result = {"status": job.status, "counters": job.completed_tasks + job.failed_tasks + job.skipped_tasks,
                  "rows": rows, "total_tasks": job.total_tasks, "pages": pages, "not_fetched": not_fetched, "error": job.error,
                  "started_at": job.started_at, "completed_at": job.completed_at}  # fmt: skip
    engine.dispose()
    return result


def crawl_pipeline_on(target: Target, concurrency: int, tag: str, processes: int = 1) -> CrawlResult:
    """Pipeline on: the crawl as scrapyd runs it, writing to a fresh SQLite database; with
    processes > 1, one hub and processes-1 workers (CRAWL_PROCESSES, crawler/hub.py)."""
    from db import migrate

    database = target.workdir / f"{tag}.db"
    database_url = f"sqlite:///{database}"
    migrate.upgrade(database_url)
    job_id, args, settings = make_job(database_url, target.origin, concurrency)
    feed = target.workdir / f"{tag}.jsonl"
    command = [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"_job={job_id}"]
    command += [part for key, value in args.items() for part in ("-a", f"{key}={_arg(value)}")]
    command += [part for key, value in settings.items() for part in ("-s", f"{key}={value}")]
    command += ["-s", "LOG_LEVEL=INFO", "-s", "LOGSTATS_INTERVAL=0", "-O", f"{feed}:jsonlines"]
    run = proc.run(command, crawler_env(DATABASE_URL=database_url, CRAWL_PROCESSES=str(processes)), PROJECT_ROOT,
                   target.workdir / f"{tag}.log", target.timeout)  # fmt: skip
    result = _finish(run, feed, target.pages)
    result.check = check_job(database_url, job_id)
    check = result.check
    if check["status"] != "completed" or check["counters"] != check["rows"]:
        result.problems.append(f"job check: {check}")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return result


def _arg(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
