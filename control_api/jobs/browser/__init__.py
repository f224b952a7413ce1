"""Browser measurements on a sample of a completed job's pages, in real headless Chromium:
`sample.py` picks the pages, `measure.py` loads them and reads the lab metrics, `runner.py` is the
loop `make run` supervises, and `service.py` serves GET /v1/jobs/{id}/browser (docs/crawler.md)."""
