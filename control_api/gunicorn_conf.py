"""gunicorn's settings for the API: `gunicorn --config python:control_api.gunicorn_conf --workers 2
--bind HOST:PORT "control_api:create_app()"`. Options given on the command line win over these."""

# Errors gunicorn answers itself (a request line or header too large, a malformed request) come back
# in the API's JSON error shape, not as an HTML page.
worker_class = "control_api.gunicorn_worker.JsonErrorWorker"
# Trigger URLs carry their secret in the path: access and error lines show `/hooks/abcd***` instead.
logger_class = "control_api.log_redaction.RedactingLogger"

# gunicorn's defaults, written down because they are part of the API (JsonErrorWorker's messages
# quote them) and raising them is a decision: the longest list or tasks URL with every filter fits
# in 4 KB, and a bearer token in a few hundred bytes.
limit_request_line = 4094  # bytes of method, path, query string and version: 414 past it
limit_request_fields = 100  # header fields: 431 past it
limit_request_field_size = 8190  # bytes of one header field: 431 past it
