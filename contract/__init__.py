"""The crawl contract: what the API and the crawler must agree on, written once.

`crawler/` and `control_api/` both import this package and never each other: the job options
(`options`), the vocabularies of statuses, kinds and error types (`vocabulary`), what a crawl target
is and which addresses it may reach (`targets`, `addresses`), and the per-URL record (`record`).
It imports neither Flask nor Scrapy.
"""
