"""Process management: the `make run` supervisor, gunicorn's glue and the scrapyd node launcher."""
