"""gunicorn's settings for the API: `gunicorn --config python:control_api.processes.gunicorn_conf --workers 2
--bind HOST:PORT "control_api:create_app()"`. Options given on the command line win over these."""

# gthread, reading each request whole in its event loop before a thread sees it (slow clients
# cannot stall the API), with the errors gunicorn answers itself in the API's JSON error shape.
worker_class = "control_api.processes.gunicorn_worker.BufferingWorker"
# Requests run at once per worker process. Each holds at most one database connection.
threads = 4
# Connections a worker holds at once (arriving, running and kept alive); past it, new connections
# wait in the listen queue. Each arriving request is at most the header limits below plus the
# largest body the app takes (1 MB, HOOK_MAX_BODY_BYTES), so this bounds a worker's buffers (~500 MB
# in the very worst case, a few KB a connection in practice).
worker_connections = 250
# Trigger URLs carry their secret in the path: access and error lines show `/hooks/abcd***` instead.
logger_class = "control_api.log_redaction.RedactingLogger"

# gunicorn's defaults, written down because they are part of the API (JsonErrorPages's messages
# quote them) and raising them is a decision: the longest list or tasks URL with every filter fits
# in 4 KB, and a bearer token in a few hundred bytes.
limit_request_line = 4094  # bytes of method, path, query string and version: 414 past it
limit_request_fields = 100  # header fields: 431 past it
limit_request_field_size = 8190  # bytes of one header field: 431 past it
