"""nginx access logs of the real-site comparison: who fetched what, and when.

Every tool is counted the same way, from the server's side: each vhost logs one tab-separated line
per request (`ACCESS_FORMAT`), and a tool's run is the lines logged between its start and its end.
A *page* is a distinct URI answered 200 with `text/html` to a GET; *URLs* are the distinct URIs
requested at all (any method, any status: redirects, 404s, HEAD checks of non-HTML links).
"""
from __future__ import annotations

from dataclasses import dataclass

# $msec first: epoch seconds with milliseconds, when nginx logged the request (response sent);
# $request_time last: seconds from the request's first byte to the log, so a request was in flight
# at the origin from $msec - $request_time to $msec (bench/slow.py counts them).
ACCESS_FORMAT = "'$msec\\t$status\\t$request_method\\t$request_uri\\t$sent_http_content_type\\t$request_time'"


@dataclass(frozen=True)
class Hit:
    time: float
    status: int
    method: str
    uri: str
    content_type: str
    duration: float = 0.0  # $request_time

    @property
    def arrived(self) -> float:
        return round(self.time - self.duration, 3)  # both are logged in milliseconds

    @property
    def is_page(self) -> bool:
        return self.method == "GET" and self.status == 200 and self.content_type.startswith("text/html")


def parse_line(line: str) -> Hit | None:
    parts = line.rstrip("\n").split("\t")
    if len(parts) not in (5, 6):
        return None
    try:
        duration = float(parts[5]) if len(parts) == 6 else 0.0
        return Hit(float(parts[0]), int(parts[1]), parts[2], parts[3], parts[4].strip('"'), duration)
    except ValueError:
        return None


def parse(text: str) -> list[Hit]:
    return [hit for hit in map(parse_line, text.splitlines()) if hit is not None]


@dataclass(frozen=True)
class Counts:
    pages: int  # distinct URIs fetched as HTML pages
    urls: int  # distinct URIs requested
    requests: int  # every request, repeats included
    first: float | None  # epoch of the first request
    last: float | None


def count(hits: list[Hit], since: float = 0.0, until: float = float("inf")) -> Counts:
    window = [hit for hit in hits if since <= hit.time <= until]
    return Counts(
        pages=len({hit.uri for hit in window if hit.is_page}),
        urls=len({hit.uri for hit in window}),
        requests=len(window),
        first=min((hit.time for hit in window), default=None),
        last=max((hit.time for hit in window), default=None),
    )
