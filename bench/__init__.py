"""Benchmarks of the crawl service: `make bench` (see docs/performance.md).

Modules: `site` generates a synthetic static site, `server` serves it with nginx and measures the
server's ceiling, `proc` runs a crawler process and accounts its CPU and memory, `crawl` measures
the crawl itself (pipeline off/on, baseline, memory at scale), `crawl_api` measures a whole crawl
through the API and scrapyd, `api` measures API latency on PostgreSQL, `report` prints the table.
"""
