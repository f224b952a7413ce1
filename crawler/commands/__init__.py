"""Scrapy commands of this project (COMMANDS_MODULE): `crawl` with an exit status for ad-hoc runs."""
