"""`scrapy crawl site` with a bad `-a` argument: Scrapy's usage error (the message, exit status 2)
before anything starts, not the message inside asyncio's "Task exception was never retrieved"
traceback (crawler/commands/crawl.py, SiteSpider.check_arguments)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from contract.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("arguments", "message"), [
    (("-a", "domain=site.test", "-a", "max_pages=-5"), "-a max_pages='-5': input should be greater than or equal to 0"),
    (("-a", "domain=site.test", "-a", "concurrency=many"), "-a concurrency='many'"),
    (("-a", "max_pages=5",), "missing the site to crawl: use -a domain=example.com"),
    (("-a", "domain=site.test", "-a", "start_path=docs"), "-a start_path='docs': must start with /"),
])  # fmt: skip
def test_a_bad_argument_is_a_usage_error_without_a_traceback(arguments, message):
    environment = {**os.environ, "DATABASE_URL": "sqlite:///nowhere/x.db", "CRAWL_LOOPBACK_ONLY": "1"}
    result = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "site", *arguments], cwd=PROJECT_ROOT,
                            env=environment, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"error: {message}" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "Task exception" not in result.stderr, result.stderr[-2000:]
