"""The pre-forked crawler launcher (CRAWL_LAUNCHER=prefork): a warm parent forks each crawl.

`zygote.py` is the warm parent: it imports Scrapy, Twisted, SQLAlchemy and this crawler once and
forks a child per crawl. `runner.py` is what scrapyd starts for each job (its `runner` option):
a stdlib-only client that hands its argv, cwd, environment and stdio to the zygote, forwards
signals and exits with the crawl's status. `protocol.py` is what both ends agree on.

This package and `protocol.py`/`runner.py` must stay stdlib-only: the runner's start-up is the
one fixed cost left per job.
"""
