"""Keep trigger secrets out of log lines. A trigger URL, `/hooks/<secret>`, is a credential in a path
(SPEC: "Incoming publish hooks"), and paths are what access and error logs print: each gets
`/hooks/<first 4 characters>***` instead, enough to tell an operator which trigger a CMS calls (4
base64 characters are 24 of the secret's 256 bits), not enough to call it.

`RedactHookPaths` is a logging filter that renders a record and rewrites its text. It sits on
gunicorn's access and error loggers (`RedactingLogger`, named by control_api/processes/gunicorn_conf.py) and
on werkzeug's request log (`flask run`), through `init_app`. Our own log lines never print a hook
path (control_api/triggers/routes.py logs nothing; the rate limiter counts calls under the secret's hash).
"""
from __future__ import annotations

import logging
import re

from flask import Flask
from gunicorn.glogging import Logger as GunicornLogger

KEPT = 4  # characters of the secret that stay readable
# `/hooks/` with any of its letters percent-encoded (werkzeug decodes `/%68ooks/...` into the same route);
# the secret runs to the end of the path segment.
HOOK_PATH = re.compile(r"(/(?:h|%68)(?:o|%6f)(?:o|%6f)(?:k|%6b)(?:s|%73)/)([^/?#\s\"']+)", re.IGNORECASE)


def redact_hook_paths(text: str) -> str:
    return HOOK_PATH.sub(lambda match: f"{match[1]}{match[2][:KEPT]}***", text)


class RedactHookPaths(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_hook_paths(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def add_filter(logger: logging.Logger) -> None:
    if not any(isinstance(existing, RedactHookPaths) for existing in logger.filters):
        logger.addFilter(RedactHookPaths())


class RedactingLogger(GunicornLogger):
    """gunicorn's logger with trigger secrets redacted from its access and error lines."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        add_filter(self.error_log)
        add_filter(self.access_log)


def init_app(app: Flask) -> None:
    add_filter(logging.getLogger("werkzeug"))  # the development server's request lines
