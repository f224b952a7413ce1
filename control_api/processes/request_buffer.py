"""Knows when an HTTP/1.1 request has arrived whole, from the bytes received so far, so that the
API's gunicorn worker (control_api/processes/gunicorn_worker.py) hands a request to a thread only once a
slow client has finished sending it.

This is not a parser: gunicorn's parser still reads every request and decides every error. It
only answers "is there enough here for the parser and the app to run without waiting on the
client?": yes once the headers and the body have arrived (Content-Length or chunked framing),
and yes as soon as waiting longer is pointless because the request will be refused anyway
(headers past gunicorn's limits, a body past the largest the app accepts, framing that is
malformed). Bounded by design: it holds at most `header_limit` + `body_limit` bytes plus framing
and one read.
"""
from __future__ import annotations

import re

CHUNK_LINE_LIMIT = 4096  # a chunk-size line (hex size and extensions) longer than this is malformed
TRAILER_LIMIT = 8192  # bytes of trailer fields after the last chunk

_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(.*?)[ \t\r]*$", re.IGNORECASE | re.MULTILINE)
_TRANSFER_ENCODING = re.compile(rb"^transfer-encoding[ \t]*:(.*)$", re.IGNORECASE | re.MULTILINE)
_EXPECT_CONTINUE = re.compile(rb"^expect[ \t]*:[ \t]*100-continue[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)


class RequestBuffer:
    """The bytes of one request as they arrive; `feed` says whether the request is ready to hand on."""

    def __init__(self, header_limit: int, body_limit: int):
        self.header_limit = header_limit
        self.body_limit = body_limit
        self.data = bytearray()
        self.ready = False
        self.wants_continue = False  # the client waits for `100 Continue` before sending its body
        self._body_start: int | None = None
        self._content_length: int | None = None
        self._chunked = False
        self._chunk_pos = 0  # where the next chunk-size line starts
        self._decoded = 0  # body bytes of the chunks seen so far

    def feed(self, data: bytes) -> bool:
        self.data += data
        if not self.ready:
            self.ready = self._check()
        return self.ready

    def _check(self) -> bool:
        if self._body_start is None:
            end = self.data.find(b"\r\n\r\n")
            if end < 0:
                return len(self.data) > self.header_limit  # gunicorn answers 414 or 431
            self._body_start = end + 4
            if not self._read_framing(bytes(self.data[:end])):
                return True  # no body, or a framing the parser will refuse
        if self._chunked:
            return self._chunks_done()
        received = len(self.data) - self._body_start
        return received >= self._content_length or self._content_length > self.body_limit

    def _read_framing(self, head: bytes) -> bool:
        """Whether a body is to be waited for; sets how it is framed."""
        encodings = _TRANSFER_ENCODING.findall(head)
        lengths = _CONTENT_LENGTH.findall(head)
        if encodings:
            if lengths or not encodings[-1].strip().lower().endswith(b"chunked"):
                return False
            self._chunked = True
            self._chunk_pos = self._body_start
        elif len(lengths) == 1 and lengths[0].isdigit():
            self._content_length = int(lengths[0])
            if self._content_length == 0:
                return False
        else:
            return False
        self.wants_continue = bool(_EXPECT_CONTINUE.search(head))
        return True

    def _chunks_done(self) -> bool:
        while True:
            line_end = self.data.find(b"\r\n", self._chunk_pos)
            if line_end < 0:
                return len(self.data) - self._chunk_pos > CHUNK_LINE_LIMIT
            size_text = bytes(self.data[self._chunk_pos:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                return True  # malformed: the parser answers 400
            if size == 0:  # the last chunk; then trailer fields, if any, and an empty line
                return self.data.find(b"\r\n\r\n", line_end) >= 0 or len(self.data) - line_end > TRAILER_LIMIT
            available = min(size, len(self.data) - (line_end + 2))
            if self._decoded + available > self.body_limit:
                return True  # over the limit: the app answers 413 from what is here
            next_line = line_end + 2 + size + 2
            if len(self.data) < next_line:
                return False
            self._decoded += size
            self._chunk_pos = next_line
