"""RequestBuffer: a request is handed on once whole, or once it is sure to be refused, never before."""
from __future__ import annotations

from control_api.processes.request_buffer import RequestBuffer

HEAD = b"POST /hooks/x HTTP/1.1\r\nHost: api\r\n"


def fed_byte_by_byte(request: bytes, header_limit: int = 10_000, body_limit: int = 100) -> int | None:
    """How many bytes it took until the buffer said ready (None: never)."""
    buffer = RequestBuffer(header_limit, body_limit)
    for count in range(1, len(request) + 1):
        if buffer.feed(request[count - 1 : count]):
            return count
    return None


def test_a_request_without_a_body_is_ready_at_the_end_of_its_headers():
    request = b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n"
    assert fed_byte_by_byte(request) == len(request)


def test_a_content_length_body_is_waited_for_to_its_last_byte():
    request = HEAD + b"Content-length: 10\r\n\r\n0123456789"
    assert fed_byte_by_byte(request) == len(request)
    assert fed_byte_by_byte(request[:-1]) is None


def test_a_chunked_body_is_waited_for_to_its_last_chunk_and_trailers():
    body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body
    assert fed_byte_by_byte(request) == len(request)
    with_trailer = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body[:-2] + b"X-Sum: 1\r\n\r\n"
    assert fed_byte_by_byte(with_trailer) == len(with_trailer)
    assert fed_byte_by_byte(with_trailer[:-2]) is None


def test_a_body_over_the_limit_is_handed_on_once_the_app_can_see_it_is_over():
    declared = HEAD + b"Content-Length: 101\r\n\r\n"
    assert fed_byte_by_byte(declared + b"x" * 101) == len(declared)  # the app refuses on the header alone
    chunked = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"32\r\n" + b"x" * 50 + b"\r\n" + b"40\r\n" + b"y" * 64
    head_and_first_chunk = len(chunked) - 64
    assert fed_byte_by_byte(chunked) == head_and_first_chunk + 51  # 101 body bytes: over 100


def test_headers_past_the_limit_or_a_malformed_framing_are_handed_on_at_once_for_the_parser_to_refuse():
    assert fed_byte_by_byte(b"GET /" + b"a" * 200, header_limit=100) == 101
    bad_size = HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"
    assert fed_byte_by_byte(bad_size + b"more") == len(bad_size)
    both = HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
    assert fed_byte_by_byte(both + b"hello") == len(both)


def test_expect_continue_is_noticed():
    buffer = RequestBuffer(10_000, 100)
    assert not buffer.feed(HEAD + b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    assert buffer.wants_continue
    assert buffer.feed(b"hello")
