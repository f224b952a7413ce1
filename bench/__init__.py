"""Benchmarks of the crawl service: `make bench` (see docs/performance.md).

Modules: `site` generates a synthetic static site, `server` serves it with nginx and measures the
server's ceiling, `proc` runs a crawler process and accounts its CPU and memory, `crawl` measures
the crawl itself (pipeline off/on, baseline, memory at scale), `crawl_api` measures a whole crawl
through the API and scrapyd, `api` measures API latency on PostgreSQL, `report` prints the table.
"""
import os

# The benches crawl real documentation trees on loopback, whose pages link to thousands of public
# URLs: external link checks stay off in every crawl they start (a bench that measures them sends
# the external hosts to a loopback stand-in instead), and no name is looked up (crawler/resolver.py).
os.environ.setdefault("CHECK_EXTERNAL_LINKS", "0")
os.environ.setdefault("CRAWL_LOOPBACK_ONLY", "1")
